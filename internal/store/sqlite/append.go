package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventagg/eventagg"
)

// topicGroup is one topic's share of an append.
type topicGroup struct {
	topicEntry
	events     int  // in the group
	created    bool // by the group (see directEvents)
	duplicates int64
	conflicts  int64
}

// Append implements eventagg.Store. Only one transaction writes at a time
// (BEGIN IMMEDIATE on the single write connection), so each new event can
// take lastSeq+1 of its topic without a gap: the insert either succeeds and
// the seq is used, or hits the dedup key and the event is a duplicate.
func (s *Store) Append(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	out, err := s.append(ctx, events, rejected)
	return out, interpretError(err)
}

func (s *Store) append(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := s.checkDataVersion(ctx, tx); err != nil {
		return nil, err
	}
	topics, created, err := s.loadTopics(ctx, tx, events)
	if err != nil {
		return nil, err
	}
	if s.keys.stale {
		if err := s.catchUp(ctx, tx, false); err != nil {
			return nil, err
		}
	}

	// A key is looked for in the group, then among the recent keys in
	// memory, then in dedup_recent and dedup_keys, all of the group's at
	// once.
	// (A key repeated in the group is probed twice; that costs less than
	// a map to avoid it.)
	keys := make([]dedupKey, len(events))
	var unknown []dedupKey
	for i := range events {
		keys[i] = keyOf(topics[events[i].Topic].id, events[i].EventID)
		if _, ok := s.keys.get(keys[i]); !ok && s.filter.mayContain(keys[i]) {
			unknown = append(unknown, keys[i])
		}
	}
	stored, err := s.probeStored(ctx, tx, unknown)
	if err != nil {
		return nil, err
	}

	insert := tx.StmtContext(ctx, s.stmts.insert)
	// first maps a key seen in this group to its original: the event it
	// was stored as, here or before. A repeat is judged against that.
	first := make(map[dedupKey]keyVal, len(events))
	out := make([]eventagg.Appended, len(events))
	added := make([]int, 0, len(events)) // indexes of the new events
	receivedAt := micros(s.Now())
	at := time.UnixMicro(receivedAt).UTC() // as a read gives it back
	var lastID int64
	// The in-order events' rows of seq_in or seq_in_recent (see
	// directEvents): topic id, seq, events.id, and the next.
	var direct, recent []any
	ordered := 0 // rows of seq_in_recent
	for i := range events {
		e := &events[i]
		g := topics[e.Topic]
		key := keys[i]
		digest := e.ContentDigest()
		v, ok := first[key]
		if !ok {
			v, ok = s.keys.get(key)
		}
		if !ok {
			v, ok = stored[key]
		}
		if ok {
			first[key] = v
			out[i] = g.repeat(v, digest)
			continue
		}
		clock := e.Clock
		if !e.HasClock {
			clock = g.maxClock
		}
		// In order when at least every earlier event of the topic in
		// time and clock: then the index of in-order events lists it in
		// all three orders, and only a late event goes into three indexes
		// (migration 005).
		ts := micros(e.Timestamp)
		inOrder := ts >= g.maxTs && clock >= g.maxClock
		res, err := insert.ExecContext(ctx, g.id, g.lastSeq+1, e.EventID, ts, receivedAt, e.Source, []byte(e.Payload), digest, clock, inOrder)
		if err != nil {
			return nil, fmt.Errorf("insert event: %w", err)
		}
		if lastID, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		switch {
		case inOrder && (g.events >= directEvents || g.created):
			direct = append(direct, g.id, g.lastSeq+1, lastID)
		case inOrder:
			recent = append(recent, g.id, g.lastSeq+1, lastID)
			ordered++
		}
		g.lastSeq++
		g.maxClock, g.maxTs = max(g.maxClock, clock), max(g.maxTs, ts)
		first[key] = keyVal{g.lastSeq, digest}
		out[i] = eventagg.Appended{Seq: g.lastSeq, Clock: clock, Position: lastID, ReceivedAt: at}
		added = append(added, i)
	}

	for _, l := range []struct {
		insert rowInsert
		args   []any
	}{{s.stmts.seqIn, direct}, {s.stmts.seqRecent, recent}} {
		if _, err := l.insert.exec(ctx, tx, l.args); err != nil {
			return nil, fmt.Errorf("insert seqs: %w", err)
		}
	}

	// Only the duplicates and conflicts are kept for a topic, in its recent
	// counts (migration 007): its seq and counts are read from the events'
	// indexes when asked for.
	var moves jsonRows
	var dups, conflicts int64
	for _, g := range topics {
		if g.duplicates+g.conflicts > 0 {
			dups += g.duplicates
			conflicts += g.conflicts
			moves.add(g.id, g.duplicates, g.conflicts)
		}
	}
	if dups+conflicts > 0 {
		if _, err := tx.StmtContext(ctx, s.stmts.countTopics).ExecContext(ctx, moves.String()); err != nil {
			return nil, fmt.Errorf("count topics: %w", err)
		}
	}
	if _, err := tx.StmtContext(ctx, s.stmts.updateCounters).ExecContext(ctx, len(events), len(added), dups, conflicts, rejected, created); err != nil {
		return nil, fmt.Errorf("update counters: %w", err)
	}
	// With synchronous=FULL in WAL mode this commit is on disk when it
	// returns: only after it may the pipeline acknowledge the group.
	if err := tx.Commit(); err != nil {
		// Whether it took effect is not known: read the topics and keys
		// afresh.
		s.topics.Clear()
		s.keys.stale = true
		s.names.stale = true
		return nil, fmt.Errorf("commit: %w", err)
	}
	// Only now, with the group durable, do the caches move.
	for name, g := range topics {
		s.topics.Put(name, g.topicEntry)
		if g.created {
			s.names.add(name, g.id)
		}
	}
	for _, i := range added {
		s.keys.hot[keys[i]] = first[keys[i]]
	}
	if lastID > 0 {
		s.keys.upTo = lastID
	}
	if len(s.keys.hot) >= s.keys.limit {
		s.mergeSoon()
	}
	if s.levels.rows += ordered + created + moves.n; s.levels.rows >= s.levels.limit {
		s.wakeMerger()
	}
	return out, nil
}

// repeat is the verdict on an event whose key the group or the store
// already holds as v: a duplicate, or a conflict when both digests are
// known and differ.
func (g *topicGroup) repeat(v keyVal, digest eventagg.Digest) eventagg.Appended {
	a := eventagg.Appended{Seq: v.seq, Duplicate: true}
	if v.digest != 0 && v.digest != digest {
		a.Conflict = true
		g.conflicts++
	} else {
		g.duplicates++
	}
	return a
}

// checkDataVersion drops the topic cache when another connection (another
// process on the same file) has committed since this one last looked:
// SQLite changes data_version exactly then.
func (s *Store) checkDataVersion(ctx context.Context, tx *sql.Tx) error {
	var v int64
	if err := tx.StmtContext(ctx, s.stmts.dataVersion).QueryRowContext(ctx).Scan(&v); err != nil {
		return fmt.Errorf("read data_version: %w", err)
	}
	if v != s.dataVersion {
		s.topics.Clear()
		s.keys.stale = true
		s.names.stale = true
		s.dataVersion = v
	}
	if s.names.stale {
		return s.names.catchUp(ctx, tx)
	}
	return nil
}

// loadTopics returns a group for each topic of events, with its id and
// last seq, from the cache or else the topics table, creating the topics
// that are new (it returns how many): at most two statements whatever the
// number of topics. Topic ids start at 1, so 0 marks a name not found.
func (s *Store) loadTopics(ctx context.Context, tx *sql.Tx, events []eventagg.Event) (map[string]*topicGroup, int, error) {
	topics := make(map[string]*topicGroup)
	var unknown []string
	for i := range events {
		name := events[i].Topic
		if g, ok := topics[name]; ok {
			g.events++
			continue
		}
		g := &topicGroup{events: 1}
		topics[name] = g
		if e, ok := s.topics.Get(name); ok {
			g.topicEntry = e
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return topics, 0, nil
	}
	var lookup, missing []string // names maybe stored, names certainly new
	for _, name := range unknown {
		if s.names.isNew(name) {
			missing = append(missing, name)
		} else {
			lookup = append(lookup, name)
		}
	}
	found := 0
	scan := func(stmt *sql.Stmt, what string, names []string, created bool) error {
		arg, err := json.Marshal(names)
		if err != nil {
			return err
		}
		rows, err := tx.StmtContext(ctx, stmt).QueryContext(ctx, arg)
		if err != nil {
			return fmt.Errorf("%s topics: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var e topicEntry
			if err := rows.Scan(&name, &e.id, &e.lastSeq, &e.maxClock, &e.maxTs); err != nil {
				return fmt.Errorf("%s topics: %w", what, err)
			}
			topics[name].topicEntry = e
			topics[name].created = created
			found++
		}
		return rows.Err()
	}
	if len(lookup) > 0 {
		if err := scan(s.stmts.loadTopics, "load", lookup, false); err != nil {
			return nil, 0, err
		}
	}
	existing := found
	for _, name := range lookup {
		if topics[name].id == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		if err := scan(s.stmts.createTopics, "create", missing, true); err != nil {
			s.names.drop() // in case it took a stored name for new
			return nil, 0, err
		}
	}
	if found != len(unknown) {
		return nil, 0, fmt.Errorf("load topics: %d of %d found", found, len(unknown))
	}
	return topics, found - existing, nil
}

// noTime is the largest timestamp of a topic without events: any
// event's is at least that.
const noTime = "-9223372036854775808"

// loadTopicsSQL reads the topics of a group ($1, a JSON array of names,
// found in either name level) with their last seq, largest clock and
// largest time: of the last in-order event, from either level, or of a late
// one, from the partial indexes.
var loadTopicsSQL = `SELECT name, id,
				max(expired_seq, COALESCE(` + largest("seq", "topics.id") + `, 0)),
				max(expired_clock, COALESCE(` + largest("clock", "topics.id") + `, 0)),
				COALESCE(` + largest("ts", "topics.id") + `, ` + noTime + `)
			FROM topics WHERE id IN (SELECT n.id FROM json_each(?1) AS j JOIN topic_names n ON n.name = j.value
				UNION ALL SELECT n.id FROM json_each(?1) AS j JOIN topic_names_recent n ON n.name = j.value)`

// writeStmts are the writer's statements, prepared once on the write
// connection: parsing SQL per group would cost more than the inserts.
type writeStmts struct {
	insert, probeKeys, updateCounters, dataVersion *sql.Stmt
	seqIn, seqRecent, mergeKeys                    rowInsert // the seq levels', dedup_recent's
	loadTopics, createTopics, countTopics          *sql.Stmt
	applyCounters                                  *sql.Stmt // the consumer's
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		// The dedup key is checked before: a clash on (topic, seq) would
		// be a bug, and fails the transaction when both events are late
		// (events_seq_late is unique) or in order in one seq level (each
		// level's key), or else the merge that brings them together.
		{&s.stmts.insert, `INSERT INTO events (topic_id, seq, event_id, ts, received_at, source, payload, digest, clock, in_order)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		// ["hex key", …] → the keys either level holds, with their seqs
		// and digests.
		{&s.stmts.probeKeys, `SELECT d.key, d.seq, d.digest FROM json_each(?1) AS j JOIN dedup_recent d ON d.key = unhex(j.value)
			UNION ALL SELECT d.key, d.seq, d.digest FROM json_each(?1) AS j JOIN dedup_keys d ON d.key = unhex(j.value)`},
		// The topics' arguments are JSON arrays: one statement serves a
		// group of any number of topics.
		{&s.stmts.loadTopics, loadTopicsSQL},
		// Creates the names, which loadTopics has looked for in vain; the
		// trigger topic_named adds each to topic_names_recent.
		{&s.stmts.createTopics, `INSERT INTO topics (name) SELECT value FROM json_each(?1) RETURNING name, id, 0, 0, ` + noTime},
		{&s.stmts.dataVersion, `PRAGMA data_version`},
		// [[id, duplicates, conflicts], …] (migration 007)
		{&s.stmts.countTopics, `INSERT INTO topic_counts_recent (topic_id, duplicates, conflicts)
			SELECT u.value->>0, u.value->>1, u.value->>2 FROM json_each(?) AS u WHERE true
			ON CONFLICT (topic_id) DO UPDATE SET duplicates = duplicates + excluded.duplicates, conflicts = conflicts + excluded.conflicts`},
		{&s.stmts.updateCounters, `UPDATE counters SET received = received + ?, stored = stored + ?, duplicates = duplicates + ?, conflicts = conflicts + ?,
			rejected = rejected + ?, topics = topics + ? WHERE id = 1`},
		// The consumer's.
		{&s.stmts.applyCounters, `UPDATE counters SET processed = processed + ?, consumer_offset = ? WHERE id = 1`},
	} {
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	// In-order events' rows of one seq level or the other (json_each cost
	// three times as much a row), and the merge's dedup keys.
	seqCols := []string{"topic_id", "seq", "id"}
	for _, r := range []struct {
		dst         *rowInsert
		verb, table string
		cols        []string
		rows        int
	}{
		{&s.stmts.seqIn, "INSERT", "seq_in", seqCols, seqRows},
		{&s.stmts.seqRecent, "INSERT", "seq_in_recent", seqCols, seqRows},
		{&s.stmts.mergeKeys, "INSERT OR IGNORE", "dedup_recent", []string{"key", "seq", "digest"}, mergeRows},
	} {
		var err error
		if *r.dst, err = s.prepareRows(ctx, r.verb, r.table, r.cols, r.rows); err != nil {
			return fmt.Errorf("prepare inserts into %s: %w", r.table, err)
		}
	}
	return nil
}
