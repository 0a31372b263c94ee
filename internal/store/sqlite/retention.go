package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/eventagg/eventagg"
)

var _ eventagg.Expirer = (*Store)(nil)

// Expire implements eventagg.Expirer: it deletes the oldest events committed
// before before, at most limit, in one transaction. Only events at or below
// both the consumer's offset (applied) and keys_merged (their keys are on
// disk, not only in their rows), and never the newest, may go; when older
// events wait only for their keys to be merged, it starts a merge of the
// recent keys early.
func (s *Store) Expire(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := s.expire(ctx, before, limit)
	return n, interpretError(err)
}

func (s *Store) expire(ctx context.Context, before time.Time, limit int) (int, error) {
	// Retention looks every second or so; finding nothing old enough only
	// reads (see process). Expiry goes in id order and stops at the first
	// event too new, so if the oldest one left is too new, none is due.
	var due bool
	if err := s.r.QueryRowContext(ctx, firstAfterIsOlder(`(SELECT expired_upto FROM counters WHERE id = 1)`),
		micros(before)).Scan(&due); err != nil {
		return 0, fmt.Errorf("read oldest: %w", err)
	}
	if !due {
		return 0, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// The newest event always stays: SQLite gives a new row the largest
	// id plus one, so an empty table would start the ids again at 1.
	var upto, merged, offset, newest int64
	if err := tx.QueryRowContext(ctx, `SELECT expired_upto, keys_merged, consumer_offset, (SELECT COALESCE(max(id), 0) FROM events) FROM counters WHERE id = 1`).
		Scan(&upto, &merged, &offset, &newest); err != nil {
		return 0, fmt.Errorf("read counters: %w", err)
	}
	// Commit order is id order: the expired events are a prefix of ids,
	// and each topic's a prefix of its seqs.
	rows, err := tx.QueryContext(ctx, `SELECT id, topic_id, seq, clock, received_at FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`,
		upto, min(merged, offset, newest-1), limit)
	if err != nil {
		return 0, fmt.Errorf("read expired: %w", err)
	}
	last, n := upto, 0
	type topicEnd struct{ seq, clock int64 }
	ends := map[int64]topicEnd{}
	for rows.Next() {
		var id, topic, seq, clock, at int64
		if err := rows.Scan(&id, &topic, &seq, &clock, &at); err != nil {
			rows.Close()
			return 0, err
		}
		if at >= micros(before) {
			break // the first too new (even if the clock went back after it)
		}
		last, ends[topic] = id, topicEnd{seq, max(clock, ends[topic].clock)}
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if n < limit && merged < offset && !s.keys.merging() {
		// Perhaps events wait only for their keys: merge them now if the
		// oldest unmerged one is old enough.
		var old bool
		if err := tx.QueryRowContext(ctx, firstAfterIsOlder("?"), merged, micros(before)).Scan(&old); err != nil {
			return 0, err
		}
		if old {
			s.mergeSoon()
		}
	}
	if n == 0 {
		return 0, nil
	}
	var moves jsonRows
	for topic, end := range ends {
		moves.add(topic, end.seq, end.clock)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM events WHERE id > ? AND id <= ?`, []any{upto, last}},
		{`UPDATE topics SET expired_seq = u.value->>1, expired_clock = max(expired_clock, u.value->>2)
			FROM json_each(?) AS u WHERE topics.id = u.value->>0`, []any{moves.String()}},
		{`UPDATE counters SET expired = expired + ?, expired_upto = ? WHERE id = 1`, []any{n, last}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return 0, fmt.Errorf("expire: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return n, nil
}

// firstAfterIsOlder is a query for whether the first event with an id
// above after (an SQL expression) was received before the query's last
// parameter (µs): expiry goes in id order, so this says whether any is due.
func firstAfterIsOlder(after string) string {
	return `SELECT EXISTS (SELECT 1 FROM (SELECT received_at FROM events WHERE id > ` + after + ` ORDER BY id LIMIT 1) WHERE received_at < ?)`
}
