package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/jackc/pgx/v5"
)

var _ eventagg.Expirer = (*Store)(nil)

// lockExpiry serialises the expirers of all replicas. It is a statement of
// its own, so the next one starts with a snapshot taken after the lock was
// granted and sees what the previous expirer committed. It also turns JIT
// off for the transaction: the planner cannot know how few rows the
// per-bucket LIMITs give, guessed a cost high enough to compile the
// statement, and compiling took 0.7 s of a pass that runs in 50 ms.
const lockExpiry = `SELECT set_config('jit', 'off', true), count(*) FROM (SELECT 1 FROM bucket_expiry ORDER BY bucket FOR UPDATE) AS locked`

// expireEvents takes each bucket's next applied events in pos order (at
// most $3 a bucket). Positions are gap-free, so that is a LIMIT, not an
// upper bound: with a bound PostgreSQL read the whole applied range with a
// bitmap scan and sorted it (0.6 s a pass at 300,000 events); with the
// LIMIT its one plan is a range of events_bucket_pos. It keeps those before the bucket's
// first one committed at or after $1 (so what expires stays a prefix of the
// bucket, even if a clock went back), picks at most $2 of them rank by rank
// across the buckets (still a prefix of each), clears their contents and
// moves the buckets' and topics' expiry marks.
const expireEvents = `
WITH cand AS (
	SELECT x.bucket, e.id, e.topic_id, e.seq, e.pos, e.received_at
	FROM bucket_expiry x JOIN bucket_offsets o ON o.bucket = x.bucket
	CROSS JOIN LATERAL (SELECT id, topic_id, seq, pos, received_at FROM events
		WHERE topic_id % ` + bucketsSQL + ` = x.bucket AND pos > x.expired_pos
		ORDER BY pos LIMIT LEAST($3, o.processed_pos - x.expired_pos)) AS e
), young AS (
	SELECT bucket, min(pos) AS pos FROM cand WHERE received_at >= $1 GROUP BY bucket
), picked AS (
	SELECT c.* FROM (SELECT c.*, row_number() OVER (PARTITION BY c.bucket ORDER BY c.pos) AS k
	                 FROM cand c LEFT JOIN young y ON y.bucket = c.bucket
	                 WHERE y.pos IS NULL OR c.pos < y.pos) AS c
	ORDER BY c.k, c.bucket LIMIT $2
), cleared AS (
	UPDATE events e SET source = '', payload = '' FROM picked p WHERE e.id = p.id
), topics_moved AS (
	INSERT INTO topic_expiry (topic_id, expired_seq) SELECT topic_id, max(seq) FROM picked GROUP BY topic_id
	ON CONFLICT (topic_id) DO UPDATE SET expired_seq = excluded.expired_seq
), buckets_moved AS (
	UPDATE bucket_expiry x SET expired_pos = m.pos, expired_id = m.id, expired = x.expired + m.n
	FROM (SELECT bucket, max(pos) AS pos, max(id) AS id, count(*) AS n FROM picked GROUP BY bucket) AS m
	WHERE x.bucket = m.bucket
)
SELECT count(*) FROM picked`

// Expire implements eventagg.Expirer. An expired event keeps its row (see
// migration 003): its key and seq stay where Append and the listings look
// for them, and only its source and payload are cleared. Autovacuum makes
// the space of the old row versions reusable, so at a steady volume the
// tables stop growing. Each bucket gives at most an eighth of limit, so a
// pass over many busy buckets reads a few times limit rows, not 64 times.
func (s *Store) Expire(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockExpiry); err != nil {
			return fmt.Errorf("lock expiry: %w", err)
		}
		if err := tx.QueryRow(ctx, expireEvents, before.UnixMicro(), limit, max(1, limit/8)).Scan(&n); err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, interpretError(err)
	}
	return n, nil
}
