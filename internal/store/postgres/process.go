package postgres

import (
	"context"
	"fmt"

	"github.com/eventagg/eventagg"

	"github.com/jackc/pgx/v5"
)

// Process implements eventagg.Store. One call is one transaction: it leases
// the offset rows of the buckets with pending events (FOR UPDATE SKIP
// LOCKED, so replicas share the buckets and never wait on each other),
// takes the next events of each in pos order, which within a topic is seq
// order, and moves the offsets and the processed counter in the same
// transaction. A replica killed mid-way loses its leases with its
// connection, and the next one resumes at the committed offsets.
//
// A pass costs one row a bucket however many topics its events span; a
// topic's processed count is read from its bucket's offset when asked for.
func (s *Store) Process(ctx context.Context, limit int) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var leased struct {
			buckets        []int32
			after, pending []int64
		}
		rows, err := tx.Query(ctx, `SELECT o.bucket, o.processed_pos, b.last_pos - o.processed_pos
			FROM bucket_offsets o JOIN buckets b ON b.id = o.bucket
			WHERE b.last_pos > o.processed_pos
			ORDER BY o.bucket FOR UPDATE OF o SKIP LOCKED`)
		if err != nil {
			return fmt.Errorf("lease buckets: %w", err)
		}
		var bucket int32
		var after, pending int64
		if _, err := pgx.ForEachRow(rows, []any{&bucket, &after, &pending}, func() error {
			leased.buckets, leased.after, leased.pending = append(leased.buckets, bucket), append(leased.after, after), append(leased.pending, pending)
			return nil
		}); err != nil {
			return fmt.Errorf("lease buckets: %w", err)
		}
		if len(leased.buckets) == 0 {
			return nil // caught up, or every pending bucket is leased elsewhere
		}

		// Each bucket's range is exact: a writer moves last_pos in the
		// transaction that stores the events, so all of (after, upto] is
		// visible, without holes.
		share := shareOut(leased.pending, int64(limit))
		upto := make([]int64, len(share))
		for i := range share {
			upto[i] = leased.after[i] + share[i]
		}
		// Per bucket, ORDER BY pos LIMIT: the one plan is a range of the
		// events_bucket_pos index, whatever the statistics say.
		rows, err = tx.Query(ctx, `SELECT k.bucket, e.pos, e.topic_id, e.seq
			FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS k(bucket, after, n)
			CROSS JOIN LATERAL (SELECT pos, topic_id, seq FROM events
				WHERE topic_id % `+bucketsSQL+` = k.bucket AND pos > k.after ORDER BY pos LIMIT k.n) AS e`,
			leased.buckets, leased.after, share)
		if err != nil {
			return fmt.Errorf("read pending: %w", err)
		}
		// Within a bucket positions, and within a topic seqs, must follow
		// each other: a hole or a repeat would mean a writer broke its order.
		lastPos := map[int32]int64{}
		lastSeq := map[int64]int64{}
		var pos, topic, seq int64
		if _, err := pgx.ForEachRow(rows, []any{&bucket, &pos, &topic, &seq}, func() error {
			if p, ok := lastPos[bucket]; ok && pos != p+1 {
				return fmt.Errorf("consumer: bucket %d pos %d follows %d: sequence broken", bucket, pos, p)
			}
			if q, ok := lastSeq[topic]; ok && seq != q+1 {
				return fmt.Errorf("consumer: topic %d seq %d follows %d: sequence broken", topic, seq, q)
			}
			lastPos[bucket], lastSeq[topic] = pos, seq
			n++
			return nil
		}); err != nil {
			return fmt.Errorf("read pending: %w", err)
		}
		var moved struct {
			buckets []int32
			upto    []int64
		}
		for i, b := range leased.buckets {
			if share[i] == 0 {
				continue
			}
			if lastPos[b] != upto[i] {
				return fmt.Errorf("consumer: bucket %d: positions %d..%d are not all there: sequence broken", b, leased.after[i]+1, upto[i])
			}
			moved.buckets, moved.upto = append(moved.buckets, b), append(moved.upto, upto[i])
		}
		// Offsets and the processed counter commit together.
		_, err = tx.Exec(ctx, `WITH moved AS (
				UPDATE bucket_offsets o SET processed_pos = u.pos
				FROM unnest($1::int[], $2::bigint[]) AS u(bucket, pos)
				WHERE o.bucket = u.bucket
			)
			UPDATE counters SET processed = processed + $3 WHERE shard = $4`,
			moved.buckets, moved.upto, n, shard())
		if err != nil {
			return fmt.Errorf("save offsets: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, interpretError(err)
	}
	return n, nil
}

// shareOut splits limit over the topics' pending counts: each gets an equal
// share, and what one does not need goes to the others, so one topic's
// backlog does not starve the rest.
func shareOut(pending []int64, limit int64) []int64 {
	share := make([]int64, len(pending))
	for left := max(limit, 1); left > 0; {
		open := int64(0)
		for i := range pending {
			if share[i] < pending[i] {
				open++
			}
		}
		if open == 0 {
			break
		}
		each := max(left/open, 1)
		for i := range pending {
			give := min(each, pending[i]-share[i], left)
			share[i] += give
			left -= give
		}
	}
	return share
}

// Watermark implements eventagg.Store: each bucket's last position, in
// bucket order. A writer moves it in the transaction that stores the
// events, so every group committed before the call is under it.
func (s *Store) Watermark(ctx context.Context) (eventagg.Watermark, error) {
	var w []int64
	err := s.pool.QueryRow(ctx, `SELECT array_agg(last_pos ORDER BY id) FROM buckets`).Scan(&w)
	if err == nil && len(w) != buckets {
		err = fmt.Errorf("%d buckets, want %d", len(w), buckets)
	}
	if err != nil {
		return nil, interpretError(fmt.Errorf("read watermark: %w", err))
	}
	return w, nil
}

// Caught implements eventagg.Store: every bucket's offset has reached the
// mark, whichever replica's consumer moved it.
func (s *Store) Caught(ctx context.Context, w eventagg.Watermark) (bool, error) {
	if len(w) != buckets {
		return false, fmt.Errorf("postgres: watermark of %d positions, want %d", len(w), buckets)
	}
	var behind int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM bucket_offsets o
		JOIN unnest($1::bigint[]) WITH ORDINALITY AS w(pos, k) ON o.bucket = w.k - 1
		WHERE o.processed_pos < w.pos`, []int64(w)).Scan(&behind); err != nil {
		return false, interpretError(fmt.Errorf("read offsets: %w", err))
	}
	return behind == 0, nil
}
