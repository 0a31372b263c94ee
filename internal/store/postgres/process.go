package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Process implements eventagg.Store. One call applies one topic: it leases
// the topic's offset row with FOR UPDATE SKIP LOCKED (so replicas share the
// topics and never wait on each other), applies the next events in seq order
// and moves the offset in the same transaction. A replica killed mid-way
// loses its lease with its connection, and the next one resumes at the
// committed offset.
func (s *Store) Process(ctx context.Context, limit int) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var topic, offset int64
		err := tx.QueryRow(ctx, `SELECT o.topic_id, o.processed_seq FROM consumer_offsets o
			JOIN topics t ON t.id = o.topic_id
			WHERE t.last_seq > o.processed_seq
			LIMIT 1 FOR UPDATE OF o SKIP LOCKED`).Scan(&topic, &offset)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // caught up, or every pending topic is leased elsewhere
		}
		if err != nil {
			return fmt.Errorf("lease topic: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT seq, ts FROM events WHERE topic_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, topic, offset, limit)
		if err != nil {
			return fmt.Errorf("read pending: %w", err)
		}
		var first, last int64
		seq := offset
		for rows.Next() {
			var next, ts int64
			if err := rows.Scan(&next, &ts); err != nil {
				return err
			}
			if next != seq+1 {
				// Writers of a topic commit in seq order, so what is
				// visible is always a prefix without holes.
				rows.Close()
				return fmt.Errorf("consumer: topic %d seq %d follows %d: sequence broken", topic, next, seq)
			}
			if n == 0 || ts < first {
				first = ts
			}
			if n == 0 || ts > last {
				last = ts
			}
			seq = next
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE consumer_offsets SET processed_seq = $2, processed = processed + $3,
			first_ts = LEAST(COALESCE(first_ts, $4), $4), last_ts = GREATEST(COALESCE(last_ts, $5), $5)
			WHERE topic_id = $1`, topic, seq, n, first, last); err != nil {
			return fmt.Errorf("apply aggregates: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE counters SET processed = processed + $1 WHERE shard = $2`, n, shard()); err != nil {
			return fmt.Errorf("save offset: %w", err)
		}
		return nil // commit: offset and effects together
	})
	if err != nil {
		return 0, interpretError(err)
	}
	return n, nil
}
