package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/eventagg/eventagg"
)

// Rows per multi-row statement: large enough that per-statement overhead
// vanishes, small enough to stay far below SQLite's parameter limit.
const chunkRows = 256

// topicGroup is one topic's share of an append.
type topicGroup struct {
	id         int64
	lastSeq    int64
	received   int64
	duplicates int64
	ids        []string // distinct event_ids of the group, for the lookup
}

// Append implements eventagg.Store. Only one transaction writes at a time
// (BEGIN IMMEDIATE on the single write connection), so looking up which keys
// exist and then inserting the rest cannot race with another writer, and
// each new event gets a seq with no gap.
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

	topics := map[string]*topicGroup{}
	// first maps topic\x00event_id to the index of its first occurrence in
	// this group, so repeats inside the group are duplicates of it.
	first := make(map[string]int, len(events))
	dupOf := make([]int, len(events)) // -1: first occurrence
	for i := range events {
		e := &events[i]
		g := topics[e.Topic]
		if g == nil {
			g = &topicGroup{}
			topics[e.Topic] = g
		}
		g.received++
		key := e.Topic + "\x00" + e.EventID
		if j, ok := first[key]; ok {
			dupOf[i] = j
			continue
		}
		first[key] = i
		dupOf[i] = -1
		g.ids = append(g.ids, e.EventID)
	}

	// Load each topic's id and last seq, and the seq of keys stored before.
	existing := map[string]int64{}
	for name, g := range topics {
		if err := loadTopic(ctx, tx, name, g); err != nil {
			return nil, err
		}
		if err := lookupExisting(ctx, tx, name, g, existing); err != nil {
			return nil, err
		}
	}

	out := make([]eventagg.Appended, len(events))
	var fresh []int // indexes of events to insert
	for i := range events {
		e := &events[i]
		g := topics[e.Topic]
		switch {
		case dupOf[i] >= 0:
			out[i] = eventagg.Appended{Seq: out[dupOf[i]].Seq, Duplicate: true}
			g.duplicates++
		default:
			if seq, ok := existing[e.Topic+"\x00"+e.EventID]; ok {
				out[i] = eventagg.Appended{Seq: seq, Duplicate: true}
				g.duplicates++
				continue
			}
			g.lastSeq++
			out[i] = eventagg.Appended{Seq: g.lastSeq}
			fresh = append(fresh, i)
		}
	}

	receivedAt := micros(s.Now())
	for start := 0; start < len(fresh); start += chunkRows {
		end := min(start+chunkRows, len(fresh))
		if err := insertEvents(ctx, tx, events, out, topics, fresh[start:end], receivedAt); err != nil {
			return nil, err
		}
	}

	var dups int64
	for _, g := range topics {
		dups += g.duplicates
		if _, err := tx.ExecContext(ctx,
			`UPDATE topics SET last_seq = ?, received = received + ?, duplicates = duplicates + ? WHERE id = ?`,
			g.lastSeq, g.received, g.duplicates, g.id); err != nil {
			return nil, fmt.Errorf("update topic: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE counters SET received = received + ?, stored = stored + ?, duplicates = duplicates + ?, rejected = rejected + ? WHERE id = 1`,
		len(events), len(fresh), dups, rejected); err != nil {
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
func loadTopic(ctx context.Context, tx *sql.Tx, name string, g *topicGroup) error {
	err := tx.QueryRowContext(ctx, `SELECT id, last_seq FROM topics WHERE name = ?`, name).Scan(&g.id, &g.lastSeq)
	if err == sql.ErrNoRows {
		err = tx.QueryRowContext(ctx, `INSERT INTO topics (name) VALUES (?) RETURNING id`, name).Scan(&g.id)
	}
	if err != nil {
		return fmt.Errorf("load topic: %w", err)
	}
	return nil
}

// lookupExisting adds to existing the seq of every key of g already stored.
func lookupExisting(ctx context.Context, tx *sql.Tx, name string, g *topicGroup, existing map[string]int64) error {
	if g.lastSeq == 0 {
		return nil // a new or empty topic has nothing stored
	}
	for start := 0; start < len(g.ids); start += chunkRows {
		ids := g.ids[start:min(start+chunkRows, len(g.ids))]
		args := make([]any, 0, len(ids)+1)
		args = append(args, g.id)
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT event_id, seq FROM events WHERE topic_id = ? AND event_id IN (`+placeholders(len(ids), 1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("look up duplicates: %w", err)
		}
		for rows.Next() {
			var id string
			var seq int64
			if err := rows.Scan(&id, &seq); err != nil {
				rows.Close()
				return err
			}
			existing[name+"\x00"+id] = seq
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

const insertColumns = 7

func insertEvents(ctx context.Context, tx *sql.Tx, events []eventagg.Event, out []eventagg.Appended, topics map[string]*topicGroup, idx []int, receivedAt int64) error {
	args := make([]any, 0, len(idx)*insertColumns)
	for _, i := range idx {
		e := &events[i]
		args = append(args, topics[e.Topic].id, out[i].Seq, e.EventID, micros(e.Timestamp), receivedAt, e.Source, []byte(e.Payload))
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO events (topic_id, seq, event_id, ts, received_at, source, payload) VALUES `+placeholders(len(idx), insertColumns), args...)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	return nil
}

// placeholders returns n groups of "(?,?,…)" with cols marks each, or for
// cols == 1 a plain "?,?,…" list.
func placeholders(n, cols int) string {
	var b strings.Builder
	group := "(" + strings.Repeat("?,", cols-1) + "?)"
	if cols == 1 {
		group = "?"
	}
	b.Grow(n * (len(group) + 1))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(group)
	}
	return b.String()
}
