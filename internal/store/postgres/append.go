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
// The cost: groups that share a topic commit one after the other.
func (s *Store) Append(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	g := newGroup(events)
	if err := s.createTopics(ctx, g.topics); err != nil {
		return nil, interpretError(err)
	}
	var err error
	for attempt := 0; attempt < conflictRetries; attempt++ {
		var out []eventagg.Appended
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			out, err = s.append(ctx, tx, g, rejected)
			return err
		})
		// pgx commits when the function returns nil; with the default
		// synchronous_commit=on the commit is flushed to the WAL on disk
		// before Commit returns, so the group may now be acknowledged.
		if err == nil {
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
	events []eventagg.Event
	dupOf  []int    // index of the first occurrence, or -1
	order  []int    // first occurrences, sorted by (topic, event_id), for the lookup
	topics []string // distinct topics, sorted
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

// createTopics makes missing topic rows in their own short transaction, so
// the group's transaction only ever locks existing rows, in name order.
// Topics are never deleted, so a name seen once is skipped from then on.
func (s *Store) createTopics(ctx context.Context, topics []string) error {
	var unknown []string
	for _, t := range topics {
		if _, ok := s.knownTopics.Load(t); !ok {
			unknown = append(unknown, t)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	topics = unknown
	_, err := s.pool.Exec(ctx, `
		WITH missing AS (
			SELECT n FROM unnest($1::text[]) AS n WHERE NOT EXISTS (SELECT 1 FROM topics WHERE name = n)
		), created AS (
			INSERT INTO topics (name) SELECT n FROM missing ORDER BY n ON CONFLICT (name) DO NOTHING RETURNING id
		)
		INSERT INTO consumer_offsets (topic_id) SELECT id FROM created ON CONFLICT DO NOTHING`, topics)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range topics {
		s.knownTopics.Store(t, struct{}{})
	}
	return nil
}

// storedKey is a dedup key as the database has it.
type storedKey struct {
	topic int64
	id    string
}

type topicState struct {
	id, lastSeq, received, dups int64
}

func (s *Store) append(ctx context.Context, tx pgx.Tx, g *group, rejected int) ([]eventagg.Appended, error) {
	topics := make(map[string]*topicState, len(g.topics))
	if len(g.topics) > 0 {
		rows, err := tx.Query(ctx, `SELECT id, name, last_seq FROM topics WHERE name = ANY($1) ORDER BY name FOR UPDATE`, g.topics)
		if err != nil {
			return nil, fmt.Errorf("lock topics: %w", err)
		}
		for rows.Next() {
			var t topicState
			var name string
			if err := rows.Scan(&t.id, &name, &t.lastSeq); err != nil {
				return nil, err
			}
			topics[name] = &t
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("lock topics: %w", err)
		}
		if len(topics) != len(g.topics) {
			return nil, fmt.Errorf("lock topics: %d of %d found", len(topics), len(g.topics))
		}
	}

	// Which keys are stored already (under the locks, nobody can add any).
	existing := map[storedKey]int64{}
	if len(g.order) > 0 {
		tids := make([]int64, len(g.order))
		ids := make([]string, len(g.order))
		for k, i := range g.order {
			tids[k], ids[k] = topics[g.events[i].Topic].id, g.events[i].EventID
		}
		rows, err := tx.Query(ctx, `SELECT e.topic_id, e.event_id, e.seq FROM events e
			JOIN unnest($1::bigint[], $2::text[]) AS k(topic_id, event_id)
			  ON e.topic_id = k.topic_id AND e.event_id = k.event_id`, tids, ids)
		if err != nil {
			return nil, fmt.Errorf("look up duplicates: %w", err)
		}
		for rows.Next() {
			var tid, seq int64
			var id string
			if err := rows.Scan(&tid, &id, &seq); err != nil {
				return nil, err
			}
			existing[storedKey{tid, id}] = seq
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up duplicates: %w", err)
		}
	}

	out := make([]eventagg.Appended, len(g.events))
	var ins struct {
		tids, seqs, ts, recv []int64
		ids, sources         []string
		payloads             [][]byte
	}
	receivedAt := s.Now().UnixMicro()
	// Seqs and ids follow input order (arrival). Deadlock freedom comes from
	// the topic locks, taken in name order before any row is written.
	var dups int64
	for i, e := range g.events {
		t := topics[e.Topic]
		t.received++
		if j := g.dupOf[i]; j >= 0 {
			out[i] = eventagg.Appended{Seq: out[j].Seq, Duplicate: true}
		} else if seq, ok := existing[storedKey{t.id, e.EventID}]; ok {
			out[i] = eventagg.Appended{Seq: seq, Duplicate: true}
		} else {
			t.lastSeq++
			out[i] = eventagg.Appended{Seq: t.lastSeq}
			continue
		}
		t.dups++
		dups++
	}
	for i := range g.events {
		if out[i].Duplicate {
			continue
		}
		e := &g.events[i]
		ins.tids, ins.seqs, ins.ids = append(ins.tids, topics[e.Topic].id), append(ins.seqs, out[i].Seq), append(ins.ids, e.EventID)
		ins.ts, ins.recv = append(ins.ts, e.Timestamp.UnixMicro()), append(ins.recv, receivedAt)
		ins.sources, ins.payloads = append(ins.sources, e.Source), append(ins.payloads, e.Payload)
	}
	if len(ins.tids) > 0 {
		// A unique violation here would be a bug (the locks exclude it), so
		// there is no ON CONFLICT: it fails the transaction loudly.
		if _, err := tx.Exec(ctx, `INSERT INTO events (topic_id, seq, event_id, ts, received_at, source, payload)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bytea[])`,
			ins.tids, ins.seqs, ins.ids, ins.ts, ins.recv, ins.sources, ins.payloads); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	if len(topics) > 0 {
		var u struct{ ids, last, recv, dups []int64 }
		for _, name := range g.topics {
			t := topics[name]
			u.ids, u.last, u.recv, u.dups = append(u.ids, t.id), append(u.last, t.lastSeq), append(u.recv, t.received), append(u.dups, t.dups)
		}
		if _, err := tx.Exec(ctx, `UPDATE topics t SET last_seq = u.last_seq, received = t.received + u.received, duplicates = t.duplicates + u.dups
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, last_seq, received, dups) WHERE t.id = u.id`,
			u.ids, u.last, u.recv, u.dups); err != nil {
			return nil, fmt.Errorf("update topics: %w", err)
		}
	}
	// pg_notify is delivered only if and when the transaction commits: it
	// wakes the consumers and subscribers of the other replicas at once.
	if _, err := tx.Exec(ctx, `UPDATE counters SET received = received + $1, stored = stored + $2, duplicates = duplicates + $3,
		rejected = rejected + $4 FROM (SELECT pg_notify('`+commitChannel+`', '')) AS n WHERE shard = $5`,
		len(g.events), len(ins.tids), dups, rejected, shard()); err != nil {
		return nil, fmt.Errorf("update counters: %w", err)
	}
	return out, nil
}
