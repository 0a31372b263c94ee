package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/eventagg/eventagg"
)

// digestChunk is how many events one transaction of fillDigests covers.
const digestChunk = 10000

// fillDigests computes, at Open, the content digests of the events stored
// before migration 004 (SQL can do neither SHA-256 nor RFC 8785), newest
// first, a chunk per transaction: into each event's row and into its key's
// row in dedup_recent and dedup_keys, in key order. counters.digests_missing
// moves down with each chunk, so a fill cut short goes on where it stopped.
// It runs before the recent keys are loaded from the rows, so they carry
// their digests.
func (s *Store) fillDigests(ctx context.Context) error {
	for {
		var missing int64
		if err := s.w.QueryRowContext(ctx, `SELECT digests_missing FROM counters WHERE id = 1`).Scan(&missing); err != nil {
			return fmt.Errorf("read digests_missing: %w", err)
		}
		if missing == 0 {
			return nil
		}
		if err := s.fillDigestChunk(ctx, missing); err != nil {
			return fmt.Errorf("compute the digests of old events: %w", err)
		}
	}
}

func (s *Store) fillDigestChunk(ctx context.Context, missing int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, topic_id, event_id, ts, source, payload FROM events
		WHERE id <= ? ORDER BY id DESC LIMIT ?`, missing, digestChunk)
	if err != nil {
		return err
	}
	var keys []keySeq // seq holds the event's id here
	for rows.Next() {
		var id, topic, ts int64
		var eventID, source string
		var payload []byte
		if err := rows.Scan(&id, &topic, &eventID, &ts, &source, &payload); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, keySeq{keyOf(topic, eventID), keyVal{id, eventagg.DigestOf(time.UnixMicro(ts), source, payload)}})
		missing = id - 1
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(keys) < digestChunk {
		missing = 0
	}
	slices.SortFunc(keys, func(a, b keySeq) int { return bytes.Compare(a.key[:], b.key[:]) })
	for _, q := range []string{
		`UPDATE events SET digest = ?2 WHERE id = ?1`,
		`UPDATE dedup_recent SET digest = ?2 WHERE key = ?3`,
		`UPDATE dedup_keys SET digest = ?2 WHERE key = ?3`,
	} {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := st.ExecContext(ctx, k.seq, k.digest, k.key[:]); err != nil {
				st.Close()
				return err
			}
		}
		st.Close()
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET digests_missing = ? WHERE id = 1`, missing); err != nil {
		return err
	}
	return tx.Commit()
}
