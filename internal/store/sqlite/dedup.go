package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// dedupKey is an event's permanent deduplication key: the first 16 bytes of
// SHA-256 over its topic id and event id (see migration 003).
type dedupKey [16]byte

func keyOf(topicID int64, eventID string) dedupKey {
	var buf [8 + 128]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(topicID))
	sum := sha256.Sum256(append(b, eventID...))
	return dedupKey(sum[:16])
}

// DefaultRecentKeys is how many keys of the newest events the writer keeps
// in memory before it merges them into dedup_keys: some 30 bytes each, so
// about 32 MiB, up to twice that while a merge runs. The more keys a merge
// brings, the less each costs: a merge rewrites at most every page of the
// index once, however many keys it brings.
const DefaultRecentKeys = 1 << 20

// recentKeys holds the keys of every event above keys_merged, so that
// dedup_keys is written only by merges, many keys per page. It is only
// right because one connection writes, under Store.writeMu: the writer adds
// its keys after its commit, and reads what other connections committed
// (PRAGMA data_version tells) before it decides anything.
type recentKeys struct {
	hot         map[dedupKey]int64 // key → seq, for the events above mergingUpTo
	merging     map[dedupKey]int64 // frozen, being written to dedup_keys; nil when no merge runs
	mergingUpTo int64              // the last events.id whose key merging holds
	upTo        int64              // the last events.id whose key is here or in dedup_keys
	stale       bool               // another connection wrote, or a commit's outcome is unknown
	limit       int                // merge when hot holds this many
}

func (k *recentKeys) get(key dedupKey) (int64, bool) {
	if seq, ok := k.hot[key]; ok {
		return seq, true
	}
	seq, ok := k.merging[key]
	return seq, ok
}

// freeze hands the hot keys to a merge; none may be running.
func (k *recentKeys) freeze() {
	k.merging, k.mergingUpTo = k.hot, k.upTo
	k.hot = make(map[dedupKey]int64, len(k.merging))
}

// loadKeys reads, at Open, the keys of every event above keys_merged.
func (s *Store) loadKeys(ctx context.Context) error {
	if err := s.w.QueryRowContext(ctx, `SELECT keys_merged FROM counters WHERE id = 1`).Scan(&s.keys.upTo); err != nil {
		return fmt.Errorf("read keys_merged: %w", err)
	}
	return s.catchUp(ctx, s.w, true)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// catchUp reads the keys of the events above upTo: all of them at Open
// (merge set: merging whenever hot is full, so a database migrated from
// schema 2 never sits in memory whole), and in Append those another
// connection or a commit of unknown outcome may have added.
func (s *Store) catchUp(ctx context.Context, q queryer, merge bool) error {
	k := &s.keys
	for {
		rows, err := q.QueryContext(ctx, `SELECT id, topic_id, seq, event_id FROM events WHERE id > ? ORDER BY id LIMIT 10000`, k.upTo)
		if err != nil {
			return fmt.Errorf("read recent keys: %w", err)
		}
		n := 0
		for rows.Next() {
			var id, topic, seq int64
			var eventID string
			if err := rows.Scan(&id, &topic, &seq, &eventID); err != nil {
				rows.Close()
				return fmt.Errorf("read recent keys: %w", err)
			}
			k.hot[keyOf(topic, eventID)] = seq
			k.upTo = id
			n++
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read recent keys: %w", err)
		}
		if n == 0 {
			k.stale = false
			return nil
		}
		if merge && len(k.hot) >= k.limit {
			k.freeze()
			if err := s.mergeFrozen(ctx, false); err != nil {
				return err
			}
		}
	}
}

// probeStored returns the seqs of those of keys that dedup_keys holds: one
// statement for a whole group.
func (s *Store) probeStored(ctx context.Context, tx *sql.Tx, keys []dedupKey) (map[dedupKey]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var b strings.Builder
	b.Grow(len(keys) * 35)
	b.WriteByte('[')
	for i, key := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(hex.EncodeToString(key[:]))
		b.WriteByte('"')
	}
	b.WriteByte(']')
	rows, err := tx.StmtContext(ctx, s.stmts.probeKeys).QueryContext(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("probe dedup keys: %w", err)
	}
	defer rows.Close()
	found := map[dedupKey]int64{}
	for rows.Next() {
		var raw []byte
		var seq int64
		if err := rows.Scan(&raw, &seq); err != nil {
			return nil, fmt.Errorf("probe dedup keys: %w", err)
		}
		found[dedupKey(raw)] = seq
	}
	return found, rows.Err()
}

// mergeChunk is how many keys one merge transaction writes (a few thousand
// pages at most), so that a group waits for a merge no longer than for a
// large group of its own. mergeRows is how many rows one statement inserts.
const (
	mergeChunk = 8192
	mergeRows  = 256
)

// mergeFrozen writes the frozen keys into dedup_keys in key order, a chunk
// per transaction, and with the last chunk moves keys_merged. locked says
// whether to take writeMu for each chunk (the background merger) or whether
// the caller has the store to itself (Open). A merge cut short (a crash,
// Close) leaves keys_merged where it was: the keys are read again at the
// next start and merged again (INSERT OR IGNORE).
func (s *Store) mergeFrozen(ctx context.Context, locked bool) error {
	lock, unlock := func() {}, func() {}
	if locked {
		lock, unlock = s.writeMu.Lock, s.writeMu.Unlock
	}
	lock()
	m, upTo := s.keys.merging, s.keys.mergingUpTo
	unlock()
	if m == nil {
		return nil
	}
	// The frozen map is only read from here on, by this and the writer.
	keys := sortedKeys(m)
	if len(keys) == 0 {
		lock()
		s.keys.merging = nil
		unlock()
		return nil
	}
	for start := 0; start < len(keys); start += mergeChunk {
		chunk := keys[start:min(start+mergeChunk, len(keys))]
		last := start+len(chunk) == len(keys)
		lock()
		err := s.mergeChunk(ctx, chunk, m, upTo, last)
		if err == nil && last {
			s.keys.merging = nil
		}
		unlock()
		if err != nil {
			return fmt.Errorf("merge dedup keys: %w", err)
		}
	}
	return nil
}

func sortedKeys(m map[dedupKey]int64) []dedupKey {
	keys := make([]dedupKey, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b dedupKey) int { return bytes.Compare(a[:], b[:]) })
	return keys
}

func (s *Store) mergeChunk(ctx context.Context, chunk []dedupKey, seqs map[dedupKey]int64, upTo int64, last bool) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	many, one := tx.StmtContext(ctx, s.stmts.mergeKeys), tx.StmtContext(ctx, s.stmts.mergeKey)
	args := make([]any, 0, 2*mergeRows)
	for len(chunk) > 0 {
		stmt, n := many, mergeRows
		if len(chunk) < mergeRows {
			stmt, n = one, 1
		}
		args = args[:0]
		for _, key := range chunk[:n] {
			args = append(args, key[:], seqs[key])
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
		chunk = chunk[n:]
	}
	if last {
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET keys_merged = max(keys_merged, ?) WHERE id = 1`, upTo); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// merger merges frozen keys in the background until ctx ends; Append wakes
// it. A failed merge (a full disk, say) keeps its keys frozen and is tried
// again at the next wake, which every group gives while hot is full.
func (s *Store) merger(ctx context.Context) {
	defer close(s.mergerDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.mergeWake:
			s.mergeFrozen(ctx, true) //nolint:errcheck // tried again at the next wake
		}
	}
}

// The merge's statements: many rows at once, and one for the rest.
var (
	mergeMany = `INSERT OR IGNORE INTO dedup_keys (key, seq) VALUES (?, ?)` + strings.Repeat(", (?, ?)", mergeRows-1)
	mergeOne  = `INSERT OR IGNORE INTO dedup_keys (key, seq) VALUES (?, ?)`
)
