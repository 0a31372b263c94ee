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
// How seq stays gap-free across replicas: the transaction locks the row of
// every topic in the group (FOR UPDATE, in name order, so two replicas never
// wait on each other in a cycle). While it holds them no other transaction
// can add events to those topics, so it can look up which keys exist, give
// the rest last_seq+1, +2, … and insert them all with one unnest statement.
// The cost: groups that share a topic commit one after the other, so the
// whole transaction is one round trip (see append) to keep the locks short.
func (s *Store) Append(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	g := newGroup(events)
	var err error
	if g.topicIDs, err = s.topicIDs(ctx, g.topics); err != nil {
		return nil, interpretError(err)
	}
	for attempt := 0; attempt < conflictRetries; attempt++ {
		var out []eventagg.Appended
		if out, err = s.append(ctx, g, rejected); err == nil {
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
	dupOf    []int    // index of the first occurrence, or -1
	order    []int    // first occurrences, sorted by (topic, event_id), for the lookup
	topics   []string // distinct topics, sorted
	topicIDs []int64  // their row ids, filled in by Append
}

func newGroup(events []eventagg.Event) *group {
	g := &group{events: events, dupOf: make([]int, len(events))}
	first := make(map[string]int, len(events))
	seen := map[string]bool{}
	for i, e := range events {
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

// topicIDs returns the row id of each topic, creating missing rows in their
// own short transaction, so that the group's transaction only ever locks
// existing rows. Topics are never deleted and their ids never change, so
// each replica caches them: after the first group of a topic this costs no
// round trip.
func (s *Store) topicIDs(ctx context.Context, topics []string) ([]int64, error) {
	ids := make([]int64, len(topics))
	var unknown []string
	for k, t := range topics {
		if id, ok := s.knownTopics.Load(t); ok {
			ids[k] = id.(int64)
		} else {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) == 0 {
		return ids, nil
	}
	if _, err := s.pool.Exec(ctx, `
		WITH missing AS (
			SELECT n FROM unnest($1::text[]) AS n WHERE NOT EXISTS (SELECT 1 FROM topics WHERE name = n)
		), created AS (
			INSERT INTO topics (name) SELECT n FROM missing ORDER BY n ON CONFLICT (name) DO NOTHING RETURNING id
		)
		INSERT INTO consumer_offsets (topic_id) SELECT id FROM created ON CONFLICT DO NOTHING`, unknown); err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	// A statement of its own, so that it also sees rows another replica
	// created after the insert above started.
	rows, err := s.pool.Query(ctx, `SELECT name, id FROM topics WHERE name = ANY($1)`, unknown)
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	var name string
	var id int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error {
		s.knownTopics.Store(name, id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	for k, t := range topics {
		id, ok := s.knownTopics.Load(t)
		if !ok {
			return nil, fmt.Errorf("create topics: %q not found", t)
		}
		ids[k] = id.(int64)
	}
	return ids, nil
}

// lockTopics takes the row lock of every topic in the group, in name order,
// so two replicas never wait on each other in a cycle (replicas of the
// earlier version, during a rolling upgrade, lock by name too). It is a
// statement of its own: the next statement then starts with a snapshot taken
// after the locks were granted, and so sees every event the previous holder
// committed.
const lockTopics = `SELECT count(*) FROM (SELECT 1 FROM topics WHERE id = ANY($1) ORDER BY name FOR UPDATE) AS locked`

// appendGroup does the rest in one statement, under the locks: look up which
// keys are stored already, number the new ones last_seq+1, +2, … per topic in
// arrival order (ord), insert them, move each topic's last_seq and counts,
// add to one counter shard and notify the other replicas. It returns every
// first occurrence with its seq and whether it was stored before.
//
// The lookup is a scalar subquery on purpose: its only sensible plan is one
// probe of the (topic_id, event_id) index per key, whatever the statistics
// say (a fresh table has none until ANALYZE), while a join leaves the
// planner free to pick a plan that scans a whole topic, and a prepared
// statement keeps that plan: that happened here, at 0.4 s a group.
//
// The pipeline commits whatever the client makes of the answers, so every
// inconsistency must fail on the server: a unique violation on insert would
// be a bug (the locks exclude it), so there is no ON CONFLICT; a topic row
// that vanished gives a NULL seq (LEFT JOIN), which the NOT NULL column
// refuses. Either fails the transaction loudly instead of storing a part.
//
// A topic whose received count was zero before this group gets its first
// events here: that is when it starts to count in counters.topics (a topic
// row made for a group that then failed has none, and is not listed).
const appendGroup = `
WITH input AS (
	SELECT i.*, (SELECT e.seq FROM events e WHERE e.topic_id = i.topic_id AND e.event_id = i.event_id) AS stored_seq
	FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], $6::int[])
	     AS i(topic_id, event_id, ts, source, payload, ord)
), fresh AS (
	SELECT i.ord, i.topic_id, i.event_id, i.ts, i.source, i.payload,
	       t.last_seq + row_number() OVER (PARTITION BY i.topic_id ORDER BY i.ord) AS seq
	FROM input i LEFT JOIN topics t ON t.id = i.topic_id
	WHERE i.stored_seq IS NULL
), inserted AS (
	INSERT INTO events (topic_id, seq, event_id, ts, received_at, source, payload)
	SELECT topic_id, seq, event_id, ts, $7, source, payload FROM fresh ORDER BY ord
), moved AS (
	UPDATE topics t SET last_seq = t.last_seq + r.added, received = t.received + r.received,
	       duplicates = t.duplicates + r.received - r.added
	FROM (SELECT r.id, r.received, (SELECT count(*) FROM fresh f WHERE f.topic_id = r.id) AS added
	      FROM unnest($8::bigint[], $9::bigint[]) AS r(id, received)) AS r
	WHERE t.id = r.id
	RETURNING t.received = r.received AS first_events
), counted AS (
	UPDATE counters SET received = received + $10, stored = stored + n.added,
	       duplicates = duplicates + $10 - n.added, rejected = rejected + $11, topics = counters.topics + n.new_topics
	FROM (SELECT (SELECT count(*) FROM fresh) AS added, (SELECT count(*) FROM moved WHERE first_events) AS new_topics,
	             pg_notify('` + commitChannel + `', '')) AS n
	WHERE shard = $12
)
SELECT ord, seq, false FROM fresh
UNION ALL
SELECT ord, stored_seq, true FROM input WHERE stored_seq IS NOT NULL`

// asyncCommit lets the group's transaction, and only it, commit without
// waiting for its WAL flush (see append).
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

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
	topicID := make(map[string]int64, len(g.topics))
	for k, t := range g.topics {
		topicID[t] = g.topicIDs[k]
	}
	var in struct {
		tids, ts     []int64
		ids, sources []string
		payloads     [][]byte
		ord          []int32
	}
	for _, i := range g.order {
		e := &g.events[i]
		in.tids, in.ids, in.sources = append(in.tids, topicID[e.Topic]), append(in.ids, e.EventID), append(in.sources, e.Source)
		in.ts, in.payloads, in.ord = append(in.ts, e.Timestamp.UnixMicro()), append(in.payloads, e.Payload), append(in.ord, int32(i))
	}
	perTopic := make(map[string]int64, len(g.topics))
	for _, e := range g.events {
		perTopic[e.Topic]++
	}
	received := make([]int64, len(g.topics))
	for k, t := range g.topics {
		received[k] = perTopic[t]
	}

	batch := &pgx.Batch{}
	batch.Queue(asyncCommit)
	batch.Queue(lockTopics, g.topicIDs)
	batch.Queue(appendGroup, in.tids, in.ids, in.ts, in.sources, in.payloads, in.ord,
		s.Now().UnixMicro(), g.topicIDs, received, len(g.events), rejected, shard())
	br := s.pool.SendBatch(ctx, batch)
	out, err := readAppended(br, g)
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
	return out, nil
}

// readAppended reads the statements' results into per-event verdicts;
// in-group repeats take the seq of their first occurrence.
func readAppended(br pgx.BatchResults, g *group) ([]eventagg.Appended, error) {
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	var locked int
	if err := br.QueryRow().Scan(&locked); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if locked != len(g.topics) {
		return nil, fmt.Errorf("lock topics: %d of %d found", locked, len(g.topics))
	}
	out := make([]eventagg.Appended, len(g.events))
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	n := 0
	for rows.Next() {
		var ord int32
		var a eventagg.Appended
		if err := rows.Scan(&ord, &a.Seq, &a.Duplicate); err != nil {
			rows.Close()
			return nil, fmt.Errorf("append: %w", err)
		}
		out[ord] = a
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if n != len(g.order) {
		return nil, fmt.Errorf("append: %d of %d events answered", n, len(g.order))
	}
	for i, j := range g.dupOf {
		if j >= 0 {
			out[i] = eventagg.Appended{Seq: out[j].Seq, Duplicate: true}
		}
	}
	return out, nil
}
