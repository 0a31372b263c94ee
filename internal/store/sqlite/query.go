package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/eventagg/eventagg"
)

// Events implements eventagg.Store. Reads go to the read-only pool, so they
// never wait for the writer (WAL gives each read a consistent snapshot).
func (s *Store) Events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	page, err := s.events(ctx, q)
	return page, interpretError(err)
}

const eventColumns = `e.id, t.name, e.seq, e.event_id, e.ts, e.received_at, e.source, e.payload`

func (s *Store) events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	global := q.Topic == ""
	if err := q.After.Check(q.Order, global); err != nil {
		return eventagg.EventPage{}, err
	}
	var rows *sql.Rows
	var err error
	// One row more than asked tells whether there is a next page.
	limit := q.Limit + 1
	switch {
	case global && q.Order == eventagg.ByArrival:
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+`
			FROM events e JOIN topics t ON t.id = e.topic_id
			WHERE e.id > ? ORDER BY e.id LIMIT ?`, q.After.Pos, limit)
	case global:
		return eventagg.EventPage{}, eventagg.Errorf(eventagg.EINVALID, "order: time order needs a topic")
	case q.Order == eventagg.ByArrival:
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+`
			FROM topics t JOIN events e ON e.topic_id = t.id
			WHERE t.name = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`, q.Topic, q.After.Pos, limit)
	default:
		rows, err = s.r.QueryContext(ctx, `SELECT `+eventColumns+`
			FROM topics t JOIN events e ON e.topic_id = t.id
			WHERE t.name = ? AND (e.ts, e.seq) > (?, ?) ORDER BY e.ts, e.seq LIMIT ?`,
			q.Topic, q.After.Time, q.After.Pos, limit)
	}
	if err != nil {
		return eventagg.EventPage{}, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()

	page, err := eventagg.ReadPage(q, rows)
	if err != nil {
		return eventagg.EventPage{}, err
	}
	return page, rows.Err()
}

// Stats implements eventagg.Store. Both reads run in one read transaction,
// so the counters and the topic list come from the same snapshot.
func (s *Store) Stats(ctx context.Context) (eventagg.Stats, error) {
	st, err := s.stats(ctx)
	return st, interpretError(err)
}

func (s *Store) stats(ctx context.Context) (eventagg.Stats, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return eventagg.Stats{}, err
	}
	defer tx.Rollback()
	var st eventagg.Stats
	if err := tx.QueryRowContext(ctx,
		`SELECT received, stored, processed, duplicates, rejected FROM counters WHERE id = 1`).
		Scan(&st.Received, &st.Stored, &st.Processed, &st.Duplicates, &st.Rejected); err != nil {
		return st, fmt.Errorf("read counters: %w", err)
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT name, received, duplicates, last_seq, processed, first_ts, last_ts FROM topics ORDER BY name`)
	if err != nil {
		return st, fmt.Errorf("read topics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t eventagg.TopicStats
		var first, last sql.NullInt64
		if err := rows.Scan(&t.Topic, &t.Received, &t.Duplicates, &t.LastSeq, &t.Processed, &first, &last); err != nil {
			return st, err
		}
		if first.Valid {
			t.FirstTime, t.LastTime = fromMicros(first.Int64), fromMicros(last.Int64)
		}
		st.Topics = append(st.Topics, t)
	}
	return st, rows.Err()
}
