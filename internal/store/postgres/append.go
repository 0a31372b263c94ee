package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/eventagg/eventagg"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// conflictRetries is how often Append retries a transaction that PostgreSQL
// aborted as a deadlock victim or serialization failure. Locks are taken in
// a fixed order, so this should never happen; if it does, the group is
// retried here rather than shown to publishers as an error.
const conflictRetries = 5

// Append implements eventagg.Store.
//
// How seq stays gap-free across replicas: topics hash into buckets (see
// migration 002), and the transaction locks the row of every bucket in the
// group (FOR UPDATE, in id order, so two replicas never wait on each other
// in a cycle). While it holds them no other transaction can add events to
// those topics, so it can look up which keys exist, give the rest
// max(seq)+1, +2, … of their topic and insert them all with one unnest
// statement. A group locks at most buckets rows however many topics it
// spans. The cost: groups that share a bucket commit one after the other,
// so the whole transaction is one round trip (see append) to keep the locks
// short.
func (s *Store) Append(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	g := newGroup(events)
	learned, err := s.topicIDs(ctx, g)
	if err != nil {
		return nil, interpretError(err)
	}
	g.buckets = bucketsOf(g.topicIDs)
	for attempt := 0; attempt < conflictRetries; attempt++ {
		var out []eventagg.Appended
		if out, err = s.append(ctx, g, rejected); err == nil {
			for name, id := range learned {
				s.knownTopics.Put(name, id)
			}
			return out, nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			break
		}
	}
	return nil, interpretError(err)
}

// group is a batch prepared outside the transaction: in-group repeats found,
// keys sorted, so the transaction itself does only database work.
type group struct {
	events   []eventagg.Event
	digests  []eventagg.Digest
	dupOf    []int    // index of the first occurrence, or -1
	order    []int    // first occurrences, sorted by (topic, event_id), for the lookup
	topics   []string // distinct topics, sorted
	topicIDs []int64  // their row ids, filled in by Append
	buckets  []int32  // the distinct buckets of topicIDs, sorted
	created  []bool   // whether Append created their rows
	// tokensBefore is what lastSeqs knew of the buckets before it did
	// (see lastSeqs.hints).
	tokensBefore [buckets]int64
}

func newGroup(events []eventagg.Event) *group {
	g := &group{events: events, dupOf: make([]int, len(events)), digests: make([]eventagg.Digest, len(events))}
	first := make(map[string]int, len(events))
	seen := map[string]bool{}
	for i, e := range events {
		g.digests[i] = e.ContentDigest()
		key := e.Topic + "\x00" + e.EventID
		if j, ok := first[key]; ok {
			g.dupOf[i] = j
			continue
		}
		first[key] = i
		g.dupOf[i] = -1
		g.order = append(g.order, i)
		if !seen[e.Topic] {
			seen[e.Topic] = true
			g.topics = append(g.topics, e.Topic)
		}
	}
	slices.Sort(g.topics)
	// Looking keys up in index order keeps the probes local.
	slices.SortFunc(g.order, func(a, b int) int {
		ea, eb := &events[a], &events[b]
		if c := strings.Compare(ea.Topic, eb.Topic); c != 0 {
			return c
		}
		return strings.Compare(ea.EventID, eb.EventID)
	})
	return g
}

// topicIDs fills in the row id of each topic, creating missing rows in
// their own short transaction, so that the group's transaction only ever
// updates existing rows, and marks the topics it created (g.created). Topics
// are never deleted and their ids never change, so each replica caches
// them (bounded): after the first group of a topic this costs no round
// trip. The ids it had to read are returned apart (learned) for the caller
// to cache once the group is durable.
//
// The creation is one pipeline (one round trip) and commits without waiting
// for its WAL flush, which with a topic per customer would be a second
// fsync for nearly every group: the group's own flush (durable) comes after
// it in the WAL, so an acknowledged group never stands on topic rows a crash
// could take. Rows that a crash does take were never cached (that is why
// the caller caches only after durable): a cached id of a lost row could
// otherwise be handed out again by the sequence, to another name.
func (s *Store) topicIDs(ctx context.Context, g *group) (learned map[string]int64, err error) {
	g.topicIDs, g.created = make([]int64, len(g.topics)), make([]bool, len(g.topics))
	var unknown []string
	for k, t := range g.topics {
		if id, ok := s.knownTopics.Get(t); ok {
			g.topicIDs[k] = id
		} else {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	learned = make(map[string]int64, len(unknown))
	g.tokensBefore = s.lastSeqs.tokens()
	batch := &pgx.Batch{}
	batch.Queue(topicSettings)
	batch.Queue(createTopics, unknown)
	br := s.pool.SendBatch(ctx, batch)
	err = scanTopicIDs(br, learned)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		for k, t := range g.topics {
			_, g.created[k] = learned[t]
		}
		if len(learned) < len(unknown) {
			err = s.readSkipped(ctx, unknown, learned)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	for k, t := range g.topics {
		if g.topicIDs[k] != 0 {
			continue
		}
		id, ok := learned[t]
		if !ok {
			return nil, fmt.Errorf("create topics: %q not found", t)
		}
		g.topicIDs[k] = id
	}
	return learned, nil
}

// topicSettings is topicIDs' setting, for its transaction only: it
// commits without waiting for its flush (see topicIDs).
const topicSettings = `SELECT set_config('synchronous_commit', 'off', true)`

// createTopics inserts the names that have no row yet and returns those it
// inserted. ON CONFLICT looks each name up in the UNIQUE index first, and
// waits for a replica inserting the same name at the same moment, so the
// names it skips are stored and committed by the time it returns.
const createTopics = `
	INSERT INTO topics (name) SELECT n FROM unnest($1::text[]) AS n ORDER BY n
	ON CONFLICT (name) DO NOTHING RETURNING name, id`

// readTopicIDs reads the ids of the names that createTopics skipped: a
// statement of its own, so that it also sees rows another replica created
// after createTopics started.
const readTopicIDs = `SELECT name, id FROM topics WHERE name = ANY($1)`

// readSkipped reads the ids of the names not in into yet (readTopicIDs).
func (s *Store) readSkipped(ctx context.Context, names []string, into map[string]int64) error {
	var missing []string
	for _, n := range names {
		if _, ok := into[n]; !ok {
			missing = append(missing, n)
		}
	}
	rows, err := s.pool.Query(ctx, readTopicIDs, missing)
	if err != nil {
		return err
	}
	return collectIDs(rows, into)
}

// scanTopicIDs reads topicIDs' pipeline: the settings, then the names
// inserted and their ids.
func scanTopicIDs(br pgx.BatchResults, into map[string]int64) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	return collectIDs(rows, into)
}

// collectIDs adds rows of (name, id) to into.
func collectIDs(rows pgx.Rows, into map[string]int64) error {
	var name string
	var id int64
	_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error {
		into[name] = id
		return nil
	})
	return err
}

// lockBuckets takes the row lock of every bucket in the group, in id
// order, so two replicas never wait on each other in a cycle. It is a
// statement of its own: the next statement then starts with a snapshot taken
// after the locks were granted, and so sees every event the previous holder
// committed.
const lockBuckets = `SELECT count(*) FROM (SELECT 1 FROM buckets WHERE id = ANY($1) ORDER BY id FOR UPDATE) AS locked`

// appendGroup does the rest in one statement, under the locks: look up which
// keys are stored already, read each topic's last seq (its max, one probe of
// events_seq) and the buckets' last positions, number the new events last
// seq+1, +2, … per topic and last pos+1, +2, … per bucket in arrival order
// (ord), insert them, move the buckets, add the duplicates to their topics,
// add to one counter shard and notify the other replicas. It returns every
// first occurrence with its seq and whether it was stored before.
//
// Each event carries tk, its topic's place in $8, and bk, its bucket's place
// in $14 (the group's buckets): the topics' last seqs and the buckets' last
// positions are arrays indexed by them, never a join. The planner cannot know how many
// rows a CTE or an unnest parameter has, and picked a nested loop over two
// of them: with groups spread over 800 topics that compared every event
// with every topic, 640,000 comparisons a group. The subscripts are taken
// before the window functions sort the rows (OFFSET 0 keeps the subquery),
// so that the rows sorted do not each carry the arrays: they did, and the
// sorts of 800 rows went to disk.
//
// The lookups are scalar subqueries on purpose: their only sensible plan is
// one probe of an index per key, whatever the statistics say (a fresh table
// has none until ANALYZE), while a join leaves the planner free to pick a
// plan that scans a whole topic, and a prepared statement keeps that plan:
// that happened here, at 0.4 s a group. The same holds for the check that a
// topic's row exists: written as EXISTS, PostgreSQL hashed it, reading the
// whole topics table for every group, which with a million topics made a
// group take 100–400 ms.
//
// The pipeline commits whatever the client makes of the answers, so every
// inconsistency must fail on the server: a unique violation on insert would
// be a bug (the locks exclude it), so there is no ON CONFLICT; a topic or
// bucket row that vanished gives a NULL seq or pos, which the NOT NULL
// columns refuse. Either fails the transaction loudly instead of storing a
// part.
//
// Conflicts: a first occurrence whose key is stored is judged against the
// stored digest; a repeat within the group ($19–$22: its ord, its first
// occurrence's place in $1…, its digest and tk) against its first
// occurrence's original, read from one array (origs) rather than a join.
// A new event without a clock ($17 = -1) gets the largest clock of its
// topic so far: stored (read only for topics that need it, $18) or earlier
// in the group.
//
// The buckets' positions and tokens are read once (bucket is MATERIALIZED):
// inlined, PostgreSQL read the group's bucket rows again for each use of
// them, four times in all.
//
// Hints (see lastSeqs): $23 is the replica's last seq of each topic and
// $27 its largest clock (-1 where it has none), $24 the token under which
// the hints of each bucket hold (0: none), $25 each topic's bucket's place
// in $14. A topic's hints stand in for its max(seq) and max(clock) probes
// only if its bucket's row still holds that token; $26 is this group's
// token, written into every bucket it adds to, and each new event returns
// the token its bucket held before (prior) and its topic's largest clock
// before the group, where $18 asked for it.
//
// A hint that holds and was learned from this replica's own commit ($28)
// also stands in for the probe of the topic's row: that commit added to
// the topic after its row was committed, so any database holding the
// commit's token (this server, a standby it failed over to, a restore)
// holds the row, as topics are never deleted; the hint's seq rests on the
// same argument. A created topic's hint does not: its row was committed
// without waiting for its flush, and is probed.
//
// A topic whose last seq was 0 gets its first events here: that is when it
// starts to count in counters.topics (a topic row made for a group that then
// failed has none, and is not listed).
const appendGroup = `
WITH input AS (
	SELECT i.*, i.stored[1] AS stored_seq, i.stored[2] AS stored_digest
	FROM (SELECT i.*, (SELECT ARRAY[e.seq, e.digest] FROM events e WHERE e.topic_id = i.topic_id AND e.event_id = i.event_id) AS stored
	      FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::int[], $13::int[], $15::int[], $16::bigint[], $17::bigint[])
	           WITH ORDINALITY AS i(topic_id, event_id, ts, source, payload, ord, tk, bk, digest, clock, k) OFFSET 0) AS i
), bucket AS MATERIALIZED (
	SELECT ARRAY(SELECT (SELECT b.last_pos FROM buckets b WHERE b.id = k.id)
	             FROM unnest($14::int[]) WITH ORDINALITY AS k(id, n) ORDER BY k.n) AS pos,
	       ARRAY(SELECT (SELECT b.token FROM buckets b WHERE b.id = k.id)
	             FROM unnest($14::int[]) WITH ORDINALITY AS k(id, n) ORDER BY k.n) AS token
), last AS (
	SELECT ARRAY(SELECT CASE WHEN r.hint >= 0 AND ($24::bigint[])[r.bk] <> 0 AND b.token[r.bk] = ($24::bigint[])[r.bk]
	                              AND (r.committed OR (SELECT true FROM topics WHERE id = r.id)) THEN r.hint
	                         WHEN (SELECT true FROM topics WHERE id = r.id)
	                         THEN COALESCE((SELECT max(e.seq) FROM events e WHERE e.topic_id = r.id), 0) END
	             FROM unnest($8::bigint[], $23::bigint[], $25::int[], $28::bool[]) WITH ORDINALITY AS r(id, hint, bk, committed, k) ORDER BY r.k) AS seq,
	       b.pos, b.token,
	       ARRAY(SELECT CASE WHEN NOT r.need THEN 0
	                         WHEN r.hint >= 0 AND ($24::bigint[])[r.bk] <> 0 AND b.token[r.bk] = ($24::bigint[])[r.bk] THEN r.hint
	                         ELSE COALESCE((SELECT max(e.clock) FROM events e WHERE e.topic_id = r.id), 0) END
	             FROM unnest($8::bigint[], $18::bool[], $27::bigint[], $25::int[]) WITH ORDINALITY AS r(id, need, hint, bk, k) ORDER BY r.k) AS clock
	FROM bucket b
), fresh AS (
	SELECT i.ord, i.topic_id, i.event_id, i.ts, i.source, i.payload, i.digest,
	       i.last_seq + row_number() OVER (PARTITION BY i.topic_id ORDER BY i.ord) AS seq,
	       i.last_pos + row_number() OVER (PARTITION BY i.topic_id % ` + bucketsSQL + ` ORDER BY i.ord) AS pos,
	       CASE WHEN i.clock >= 0 THEN i.clock
	            ELSE greatest(i.last_clock, max(NULLIF(i.clock, -1)) OVER (PARTITION BY i.topic_id ORDER BY i.ord)) END AS clock,
	       i.prior, i.last_clock
	FROM (SELECT i.*, l.seq[i.tk] AS last_seq, l.pos[i.bk] AS last_pos, l.clock[i.tk] AS last_clock, l.token[i.bk] AS prior
	      FROM input i, last l WHERE i.stored_seq IS NULL OFFSET 0) AS i
), inserted AS (
	INSERT INTO events (topic_id, seq, pos, event_id, ts, received_at, source, payload, digest, clock)
	SELECT topic_id, seq, pos, event_id, ts, $7, source, payload, digest, clock FROM fresh ORDER BY ord
), origs AS MATERIALIZED (
	SELECT array_agg(CASE WHEN stored_seq IS NULL THEN digest ELSE stored_digest END ORDER BY k) AS d FROM input
), repeats AS (
	SELECT r.ord, r.tk, r.digest, o.d[r.fk] AS orig
	FROM unnest($19::int[], $20::int[], $21::bigint[], $22::int[]) AS r(ord, fk, digest, tk), origs o
), judged AS (
	SELECT ord, tk, stored_seq AS seq, stored_seq IS NULL AS fresh,
	       COALESCE(stored_digest <> 0 AND stored_digest <> digest, false) AS conflict FROM input
	UNION ALL
	SELECT ord, tk, 0, false, orig <> 0 AND orig <> digest FROM repeats
), per_topic AS (
	SELECT tk, count(*) FILTER (WHERE fresh) AS added, count(*) FILTER (WHERE conflict) AS conflicts FROM judged GROUP BY tk
), dups AS (
	UPDATE topics t SET duplicates = t.duplicates + d.n - d.c, conflicts = t.conflicts + d.c
	FROM (SELECT ($8::bigint[])[tk] AS id, ($9::bigint[])[tk] - added AS n, conflicts AS c FROM per_topic) AS d
	WHERE t.id = d.id AND d.n > 0
), moved AS (
	UPDATE buckets b SET last_pos = b.last_pos + m.n, token = $26
	FROM (SELECT topic_id % ` + bucketsSQL + ` AS bucket, count(*) AS n FROM fresh GROUP BY 1) AS m
	WHERE b.id = m.bucket
), counted AS (
	UPDATE counters SET received = received + $10, stored = stored + n.added,
	       duplicates = duplicates + $10 - n.added - n.conflicts, conflicts = counters.conflicts + n.conflicts,
	       rejected = rejected + $11, topics = counters.topics + n.new_topics
	FROM (SELECT (SELECT count(*) FROM fresh) AS added,
	             (SELECT COALESCE(sum(conflicts), 0) FROM per_topic) AS conflicts,
	             (SELECT count(*) FROM per_topic p, last l WHERE l.seq[p.tk] = 0 AND p.added > 0) AS new_topics,
	             pg_notify('` + commitChannel + `', '')) AS n
	WHERE shard = $12
)
SELECT ord, seq, false, false, clock, prior, last_clock FROM fresh
UNION ALL
SELECT ord, seq, true, conflict, 0, 0, 0 FROM judged WHERE NOT fresh`

// asyncCommit lets the group's transaction, and only it, commit without
// waiting for its WAL flush (see append). It also keeps the group statement
// on its generic plan: PostgreSQL otherwise plans it afresh for its
// parameters at every execution whenever it guesses the generic plan
// dearer, and for groups of a few events planning the statement cost more
// than running it (in perf, copyObjectImpl and the expression walkers led
// PostgreSQL's profile with three replicas of single events). The statement
// is written so that its one sensible plan is the generic one (see
// appendGroup).
//
// That plan is made at the first group on each connection, often while
// the tables are empty and unanalysed, and then kept; so it must not
// depend on their sizes. The one join whose method the planner picks, the
// update of the topics with repeats, it joined by hashing the whole topics
// table when that looked small, and kept doing so for every group as the
// table grew (7 ms of a 29 ms group with 100,000 topics, growing with
// them); and once a VACUUM had measured the tables at a few rows, each
// lookup became a scan. The store's connections have scans and hash and
// merge joins off (plannerSettings), so the joins are nested loops probing
// an index and the lookups probes: one per key or topic, however many exist
// (TestGroupPlanProbesTopics).
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`

// append sends the statements in one pipeline: one round trip, one implicit
// transaction that commits at the pipeline's end. Two things keep the topic
// locks short, which is what lets replicas share topics without queueing
// behind each other's waits:
//
//   - one round trip holds them, not one per statement;
//   - the commit does not wait for its fsync (asyncCommit), so the locks are
//     released as soon as the work is done. The fsync then happens outside
//     them, in durable, where the fsyncs of concurrent groups (from all
//     replicas) are shared, and the group is acknowledged only after it.
//
// In the short time between the commit and its flush, others can see the
// group. That is safe: writers and consumers that build on it (a duplicate
// verdict, the next seq, a processed offset) commit after it in the WAL, so
// no crash can keep their work and lose the group's, and they too answer
// only after durable; readers (Events, Stats) call durable before they
// answer.
func (s *Store) append(ctx context.Context, g *group, rejected int) ([]eventagg.Appended, error) {
	place := make(map[string]int32, len(g.topics)) // 1-based, as SQL arrays are
	for k, t := range g.topics {
		place[t] = int32(k + 1)
	}
	var in struct {
		tids, ts, digests, clocks []int64
		ids, sources              []string
		payloads                  [][]byte
		ord, tk, bk               []int32
	}
	var rep struct {
		ord, fk, tk []int32
		digests     []int64
	}
	needClock := make([]bool, len(g.topics))
	inputPlace := make([]int32, len(g.events))           // 1-based place in the input arrays
	bucketPlace := make(map[int32]int32, len(g.buckets)) // 1-based
	for n, b := range g.buckets {
		bucketPlace[b] = int32(n + 1)
	}
	for _, i := range g.order {
		e := &g.events[i]
		k := place[e.Topic]
		in.tids, in.ids, in.sources = append(in.tids, g.topicIDs[k-1]), append(in.ids, e.EventID), append(in.sources, e.Source)
		in.ts, in.payloads, in.ord = append(in.ts, e.Timestamp.UnixMicro()), append(in.payloads, e.Payload), append(in.ord, int32(i))
		in.tk = append(in.tk, k)
		in.bk = append(in.bk, bucketPlace[int32(g.topicIDs[k-1]%buckets)])
		in.digests = append(in.digests, int64(g.digests[i]))
		clock := int64(-1)
		if e.HasClock {
			clock = e.Clock
		} else {
			needClock[k-1] = true
		}
		in.clocks = append(in.clocks, clock)
		inputPlace[i] = int32(len(in.tids))
	}
	for i, j := range g.dupOf {
		if j >= 0 {
			rep.ord, rep.fk, rep.tk = append(rep.ord, int32(i)), append(rep.fk, inputPlace[j]), append(rep.tk, place[g.events[i].Topic])
			rep.digests = append(rep.digests, int64(g.digests[i]))
		}
	}
	received := make([]int64, len(g.topics))
	for _, e := range g.events {
		received[place[e.Topic]-1]++
	}

	hintSeqs, hintClocks, hintTokens, committed := s.lastSeqs.hints(g.topics, g.topicIDs, g.created, &g.tokensBefore, g.buckets)
	token := newToken()
	topicBucket := make([]int32, len(g.topics)) // each topic's bucket's place, 1-based
	for k, id := range g.topicIDs {
		topicBucket[k] = bucketPlace[int32(id%buckets)]
	}

	batch := &pgx.Batch{}
	batch.Queue(asyncCommit)
	batch.Queue(lockBuckets, g.buckets)
	batch.Queue(appendGroup, in.tids, in.ids, in.ts, in.sources, in.payloads, in.ord,
		s.Now().UnixMicro(), g.topicIDs, received, len(g.events), rejected, shard(), in.tk, g.buckets, in.bk,
		in.digests, in.clocks, needClock, rep.ord, rep.fk, rep.digests, rep.tk, hintSeqs, hintTokens, topicBucket, token, hintClocks, committed)
	br := s.pool.SendBatch(ctx, batch)
	out, before, err := readAppended(br, g)
	// Close reads up to the end of the pipeline, where PostgreSQL commits.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.durable(ctx)
	}
	if err != nil {
		return nil, err
	}
	found, seqs := g.learned(out, before, place, needClock)
	s.lastSeqs.learn(token, found, seqs)
	return out, nil
}

// learned is what a durable group tells lastSeqs: the token it found in
// each bucket it added to, and the last seq and largest clock of each topic
// it added to (the clock -1 where the group did not learn the one before,
// which it does only for topics with events sent without a clock).
func (g *group) learned(out []eventagg.Appended, before []stateBefore, place map[string]int32, needClock []bool) (map[int32]int64, map[string]topicSeq) {
	found := make(map[int32]int64, len(g.buckets))
	seqs := make(map[string]topicSeq, len(g.topics))
	for i, a := range out {
		if a.Duplicate || g.dupOf[i] >= 0 {
			continue
		}
		topic := g.events[i].Topic
		k := place[topic] - 1
		b := int32(g.topicIDs[k] % buckets)
		t, ok := seqs[topic]
		if !ok {
			t = topicSeq{bucket: b, clockBefore: -1}
			if needClock[k] {
				t.clockBefore = before[i].clock
			}
		}
		t.seq, t.clock = max(t.seq, a.Seq), max(t.clock, a.Clock)
		seqs[topic] = t
		found[b] = before[i].token
	}
	return found, seqs
}

// stateBefore is what a new event's row says of its bucket and topic before
// the group: the bucket's token, and the topic's largest clock (where the
// group asked for it).
type stateBefore struct{ token, clock int64 }

// bucketsOf returns the distinct buckets of the topics, sorted: the lock
// order.
func bucketsOf(topicIDs []int64) []int32 {
	seen := make(map[int32]bool, buckets)
	var out []int32
	for _, id := range topicIDs {
		if b := int32(id % buckets); !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// readAppended reads the statements' results into per-event verdicts;
// in-group repeats take the seq of their first occurrence.
func readAppended(br pgx.BatchResults, g *group) (out []eventagg.Appended, before []stateBefore, err error) {
	if _, err := br.Exec(); err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	var locked int
	if err := br.QueryRow().Scan(&locked); err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	if locked != len(g.buckets) {
		return nil, nil, fmt.Errorf("lock buckets: %d of %d found", locked, len(g.buckets))
	}
	out, before = make([]eventagg.Appended, len(g.events)), make([]stateBefore, len(g.events))
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	n := 0
	for rows.Next() {
		var ord int32
		var a eventagg.Appended
		var b stateBefore
		if err := rows.Scan(&ord, &a.Seq, &a.Duplicate, &a.Conflict, &a.Clock, &b.token, &b.clock); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("append: %w", err)
		}
		out[ord], before[ord] = a, b
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("append: %w", err)
	}
	if n != len(g.events) {
		return nil, nil, fmt.Errorf("append: %d of %d events answered", n, len(g.events))
	}
	for i, j := range g.dupOf {
		if j >= 0 {
			out[i].Seq = out[j].Seq
		}
	}
	return out, before, nil
}
