package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/jackc/pgx/v5"
)

const eventColumns = `e.id, t.name, e.seq, e.event_id, e.ts, e.received_at, e.source, e.payload`

// Events implements eventagg.Store. The all-topics listing is in id order:
// allocation order, which across replicas is close to but not exactly commit
// order; per topic, seq order is exact.
func (s *Store) Events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	global := q.Topic == ""
	if err := q.After.Check(q.Order, global); err != nil {
		return eventagg.EventPage{}, err
	}
	limit := q.Limit + 1 // one more tells whether there is a next page
	var rows pgx.Rows
	var err error
	switch {
	case global && q.Order == eventagg.ByArrival:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events e JOIN topics t ON t.id = e.topic_id
			WHERE e.id > $1 ORDER BY e.id LIMIT $2`, q.After.Pos, limit)
	case global:
		return eventagg.EventPage{}, eventagg.Errorf(eventagg.EINVALID, "order: time order needs a topic")
	case q.Order == eventagg.ByArrival:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM topics t JOIN events e ON e.topic_id = t.id
			WHERE t.name = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`, q.Topic, q.After.Pos, limit)
	default:
		rows, err = s.pool.Query(ctx, `SELECT `+eventColumns+` FROM topics t JOIN events e ON e.topic_id = t.id
			WHERE t.name = $1 AND (e.ts, e.seq) > ($2, $3) ORDER BY e.ts, e.seq LIMIT $4`,
			q.Topic, q.After.Time, q.After.Pos, limit)
	}
	if err != nil {
		return eventagg.EventPage{}, interpretError(fmt.Errorf("list events: %w", err))
	}
	page, err := eventagg.ReadPage(q, rows)
	rows.Close() // before the flush below, which needs a connection of its own
	if err == nil {
		err = rows.Err()
	}
	if err == nil {
		// Groups commit before their WAL flush (see append): show
		// nothing that a crash could still take back.
		err = s.durable(ctx)
	}
	if err != nil {
		return eventagg.EventPage{}, interpretError(err)
	}
	return page, nil
}

// Stats implements eventagg.Store: one REPEATABLE READ snapshot, so the
// summed counter shards and the topics agree with each other.
func (s *Store) Stats(ctx context.Context) (eventagg.Stats, error) {
	var st eventagg.Stats
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COALESCE(SUM(received), 0), COALESCE(SUM(stored), 0), COALESCE(SUM(processed), 0),
			COALESCE(SUM(duplicates), 0), COALESCE(SUM(rejected), 0) FROM counters`).
			Scan(&st.Received, &st.Stored, &st.Processed, &st.Duplicates, &st.Rejected); err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT t.name, t.received, t.duplicates, t.last_seq, COALESCE(o.processed, 0), o.first_ts, o.last_ts
			FROM topics t LEFT JOIN consumer_offsets o ON o.topic_id = t.id
			WHERE t.received > 0 ORDER BY t.name`)
		if err != nil {
			return fmt.Errorf("read topics: %w", err)
		}
		for rows.Next() {
			var t eventagg.TopicStats
			var first, last *int64
			if err := rows.Scan(&t.Topic, &t.Received, &t.Duplicates, &t.LastSeq, &t.Processed, &first, &last); err != nil {
				return err
			}
			if first != nil && last != nil {
				t.FirstTime, t.LastTime = fromMicros(*first), fromMicros(*last)
			}
			st.Topics = append(st.Topics, t)
		}
		return rows.Err()
	})
	if err == nil {
		err = s.durable(ctx) // as in Events
	}
	return st, interpretError(err)
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
