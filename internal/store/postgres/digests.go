package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/jackc/pgx/v5"
)

// digestChunk is how many events one transaction of fillDigests covers.
const digestChunk = 10000

// fillDigests computes the content digests of the events stored before
// migration 004 (SQL has no RFC 8785 canonicalisation), newest first, a
// chunk per transaction; digests_missing.upto moves down with each, so a
// fill cut short goes on where it stopped. It runs under the migration's
// advisory lock: one replica fills, the others wait for it. Events whose
// payload retention had already cleared keep digest 0 (unknown).
func fillDigests(ctx context.Context, conn *pgx.Conn) error {
	for {
		done := false
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var upto int64
			if err := tx.QueryRow(ctx, `SELECT upto FROM digests_missing WHERE id = 1`).Scan(&upto); err != nil {
				return err
			}
			if upto == 0 {
				done = true
				return nil
			}
			rows, err := tx.Query(ctx, `SELECT e.id, e.ts, e.source, e.payload, e.seq <= COALESCE(x.expired_seq, 0)
				FROM events e LEFT JOIN topic_expiry x ON x.topic_id = e.topic_id
				WHERE e.id <= $1 ORDER BY e.id DESC LIMIT $2`, upto, digestChunk)
			if err != nil {
				return err
			}
			var ids, digests []int64
			var id, ts int64
			var source string
			var payload []byte
			var expired bool
			n := 0
			if _, err := pgx.ForEachRow(rows, []any{&id, &ts, &source, &payload, &expired}, func() error {
				n++
				upto = id - 1
				if !expired {
					ids = append(ids, id)
					digests = append(digests, int64(eventagg.DigestOf(time.UnixMicro(ts), source, payload)))
				}
				return nil
			}); err != nil {
				return err
			}
			if n < digestChunk {
				upto = 0
			}
			if _, err := tx.Exec(ctx, `UPDATE events SET digest = u.digest FROM unnest($1::bigint[], $2::bigint[]) AS u(id, digest)
				WHERE events.id = u.id`, ids, digests); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE digests_missing SET upto = $1 WHERE id = 1`, upto)
			return err
		})
		if err != nil {
			return fmt.Errorf("compute the digests of old events: %w", err)
		}
		if done {
			return nil
		}
	}
}
