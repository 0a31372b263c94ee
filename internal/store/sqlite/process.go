package sqlite

import (
	"context"
	"fmt"
)

// topicEffect is what one consumer pass adds to one topic's aggregates.
type topicEffect struct {
	count         int64
	lastSeq       int64
	firstTS, last int64
}

// Process implements eventagg.Store. Global id order is commit order and so
// each topic's seq order; the offset moves in the same transaction as the
// aggregates it covers, which is what makes processing exactly-once.
func (s *Store) Process(ctx context.Context, limit int) (int, error) {
	n, err := s.process(ctx, limit)
	return n, interpretError(err)
}

func (s *Store) process(ctx context.Context, limit int) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	var offset int64
	if err := tx.QueryRowContext(ctx, `SELECT consumer_offset FROM counters WHERE id = 1`).Scan(&offset); err != nil {
		return 0, fmt.Errorf("read offset: %w", err)
	}
	rows, err := tx.QueryContext(ctx,
		`SELECT id, topic_id, seq, ts FROM events WHERE id > ? ORDER BY id LIMIT ?`, offset, limit)
	if err != nil {
		return 0, fmt.Errorf("read pending: %w", err)
	}
	effects := map[int64]*topicEffect{}
	var order []int64 // topics in first-seen order, for deterministic updates
	n := 0
	for rows.Next() {
		var id, topic, seq, ts int64
		if err := rows.Scan(&id, &topic, &seq, &ts); err != nil {
			rows.Close()
			return 0, err
		}
		e := effects[topic]
		if e == nil {
			e = &topicEffect{firstTS: ts, last: ts}
			effects[topic] = e
			order = append(order, topic)
		}
		if seq != e.lastSeq+1 && e.lastSeq != 0 {
			rows.Close()
			return 0, fmt.Errorf("consumer: topic %d seq %d follows %d: sequence broken", topic, seq, e.lastSeq)
		}
		e.count++
		e.lastSeq = seq
		e.firstTS = min(e.firstTS, ts)
		e.last = max(e.last, ts)
		offset = id
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	for _, topic := range order {
		e := effects[topic]
		// processed_seq must continue exactly where the last pass stopped;
		// the WHERE clause turns any double or skipped application into an
		// error instead of a silently wrong aggregate.
		res, err := tx.ExecContext(ctx, `UPDATE topics SET
				processed = processed + ?, processed_seq = ?,
				first_ts = MIN(COALESCE(first_ts, ?), ?), last_ts = MAX(COALESCE(last_ts, ?), ?)
			WHERE id = ? AND processed_seq = ?`,
			e.count, e.lastSeq, e.firstTS, e.firstTS, e.last, e.last, topic, e.lastSeq-e.count)
		if err != nil {
			return 0, fmt.Errorf("apply aggregates: %w", err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return 0, fmt.Errorf("consumer: topic %d is not at seq %d: processed out of order", topic, e.lastSeq-e.count)
		}
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE counters SET processed = processed + ?, consumer_offset = ? WHERE id = 1`, n, offset); err != nil {
		return 0, fmt.Errorf("save offset: %w", err)
	}
	// Offset and effects commit together, or neither does.
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}
