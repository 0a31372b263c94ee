package sqlite

import (
	"context"
	"fmt"

	"github.com/eventagg/eventagg"
)

// Process implements eventagg.Store. The consumer applies events in global
// id order, which is commit order and so each topic's seq order; its effect
// (the processed counter) moves in the same transaction as its offset,
// which is what makes processing exactly-once. A topic's processed count is
// read from that offset (its events at or below it), so a pass costs the
// same however many topics its events span.
func (s *Store) Process(ctx context.Context, limit int) (int, error) {
	n, err := s.process(ctx, limit)
	return n, interpretError(err)
}

func (s *Store) process(ctx context.Context, limit int) (int, error) {
	// An idle consumer still looks for work (after each pass, and once a
	// second): finding none must not take the write lock, and the one
	// write connection, from the writer. A read does not wait for another
	// writer (WAL), and sees every commit made before it; a commit after it
	// wakes the consumer again.
	var pending bool
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events
		WHERE id > (SELECT consumer_offset FROM counters WHERE id = 1))`).Scan(&pending); err != nil {
		return 0, fmt.Errorf("read pending: %w", err)
	}
	if !pending {
		return 0, nil
	}
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
		`SELECT id, topic_id, seq FROM events WHERE id > ? ORDER BY id LIMIT ?`, offset, limit)
	if err != nil {
		return 0, fmt.Errorf("read pending: %w", err)
	}
	// Within a pass, each topic's seqs must follow each other: a hole or a
	// repeat would mean the writer broke its order.
	last := map[int64]int64{}
	n := 0
	for rows.Next() {
		var id, topic, seq int64
		if err := rows.Scan(&id, &topic, &seq); err != nil {
			rows.Close()
			return 0, err
		}
		if prev, ok := last[topic]; ok && seq != prev+1 {
			rows.Close()
			return 0, fmt.Errorf("consumer: topic %d seq %d follows %d: sequence broken", topic, seq, prev)
		}
		last[topic] = seq
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
	if _, err := tx.StmtContext(ctx, s.stmts.applyCounters).ExecContext(ctx, n, offset); err != nil {
		return 0, fmt.Errorf("save offset: %w", err)
	}
	// Offset and effects commit together, or neither does.
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}

// Watermark implements eventagg.Store: the last event id, since the
// consumer goes in id order.
func (s *Store) Watermark(ctx context.Context) (eventagg.Watermark, error) {
	var id int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM events`).Scan(&id); err != nil {
		return nil, interpretError(fmt.Errorf("read watermark: %w", err))
	}
	return eventagg.Watermark{id}, nil
}

// Caught implements eventagg.Store.
func (s *Store) Caught(ctx context.Context, w eventagg.Watermark) (bool, error) {
	if len(w) != 1 {
		return false, fmt.Errorf("sqlite: watermark of %d positions, want 1", len(w))
	}
	var caught bool
	if err := s.r.QueryRowContext(ctx, `SELECT consumer_offset >= ? FROM counters WHERE id = 1`, w[0]).Scan(&caught); err != nil {
		return false, interpretError(fmt.Errorf("read offset: %w", err))
	}
	return caught, nil
}
