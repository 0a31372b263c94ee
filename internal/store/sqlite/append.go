package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/eventagg/eventagg"
)

// topicGroup is one topic's share of an append.
type topicGroup struct {
	id         int64
	lastSeq    int64
	received   int64
	duplicates int64
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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	insert := tx.StmtContext(ctx, s.stmts.insert)
	lookup := tx.StmtContext(ctx, s.stmts.lookup)

	topics := map[string]*topicGroup{}
	// first maps topic\x00event_id to the index of its first occurrence in
	// this group, so a repeat inside the group needs no database probe.
	first := make(map[string]int, len(events))
	out := make([]eventagg.Appended, len(events))
	receivedAt := micros(s.Now())
	var stored, dups int64
	for i := range events {
		e := &events[i]
		g := topics[e.Topic]
		if g == nil {
			g = &topicGroup{}
			if err := s.loadTopic(ctx, tx, e.Topic, g); err != nil {
				return nil, err
			}
			topics[e.Topic] = g
		}
		g.received++
		key := e.Topic + "\x00" + e.EventID
		if j, ok := first[key]; ok {
			out[i] = eventagg.Appended{Seq: out[j].Seq, Duplicate: true}
			g.duplicates++
			continue
		}
		first[key] = i
		res, err := insert.ExecContext(ctx, g.id, g.lastSeq+1, e.EventID, micros(e.Timestamp), receivedAt, e.Source, []byte(e.Payload))
		if err != nil {
			return nil, fmt.Errorf("insert event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			g.lastSeq++
			out[i] = eventagg.Appended{Seq: g.lastSeq}
			stored++
			continue
		}
		// The dedup key was taken: stored before, in an earlier group.
		var seq int64
		if err := lookup.QueryRowContext(ctx, g.id, e.EventID).Scan(&seq); err != nil {
			return nil, fmt.Errorf("look up duplicate: %w", err)
		}
		out[i] = eventagg.Appended{Seq: seq, Duplicate: true}
		g.duplicates++
	}

	updateTopic := tx.StmtContext(ctx, s.stmts.updateTopic)
	for _, g := range topics {
		dups += g.duplicates
		if _, err := updateTopic.ExecContext(ctx, g.lastSeq, g.received, g.duplicates, g.id); err != nil {
			return nil, fmt.Errorf("update topic: %w", err)
		}
	}
	if _, err := tx.StmtContext(ctx, s.stmts.updateCounters).ExecContext(ctx, len(events), stored, dups, rejected); err != nil {
		return nil, fmt.Errorf("update counters: %w", err)
	}
	// With synchronous=FULL in WAL mode this commit is on disk when it
	// returns: only after it may the pipeline acknowledge the group.
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

// loadTopic fills g with the topic's id and last seq, creating the topic.
func (s *Store) loadTopic(ctx context.Context, tx *sql.Tx, name string, g *topicGroup) error {
	err := tx.StmtContext(ctx, s.stmts.loadTopic).QueryRowContext(ctx, name).Scan(&g.id, &g.lastSeq)
	if err == sql.ErrNoRows {
		err = tx.QueryRowContext(ctx, `INSERT INTO topics (name) VALUES (?) RETURNING id`, name).Scan(&g.id)
	}
	if err != nil {
		return fmt.Errorf("load topic: %w", err)
	}
	return nil
}

// writeStmts are the writer's statements, prepared once on the write
// connection: parsing SQL per group would cost more than the inserts.
type writeStmts struct {
	insert, lookup, loadTopic, updateTopic, updateCounters *sql.Stmt
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		// Only a clash on the dedup key is ignored; a clash on (topic, seq)
		// would be a bug and fails the transaction.
		{&s.stmts.insert, `INSERT INTO events (topic_id, seq, event_id, ts, received_at, source, payload)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (topic_id, event_id) DO NOTHING`},
		{&s.stmts.lookup, `SELECT seq FROM events WHERE topic_id = ? AND event_id = ?`},
		{&s.stmts.loadTopic, `SELECT id, last_seq FROM topics WHERE name = ?`},
		{&s.stmts.updateTopic, `UPDATE topics SET last_seq = ?, received = received + ?, duplicates = duplicates + ? WHERE id = ?`},
		{&s.stmts.updateCounters, `UPDATE counters SET received = received + ?, stored = stored + ?, duplicates = duplicates + ?, rejected = rejected + ? WHERE id = 1`},
	} {
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return nil
}
