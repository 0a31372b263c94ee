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

	"github.com/eventagg/eventagg"
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
// in memory before it merges them into dedup_recent: some 30 bytes each in
// the map, so about 16 MiB, and up to 12 MiB more for the sorted copy a
// merge writes from. The more keys a merge brings, the fewer pages it
// rewrites per key.
const DefaultRecentKeys = 1 << 19

// recentKeys holds the keys of every event above keys_merged, so that the
// key tables are written only by merges, many keys per page. It is only
// right because one connection writes, under Store.writeMu: the writer adds
// its keys after its commit, and reads what other connections committed
// (PRAGMA data_version tells) before it decides anything.
type recentKeys struct {
	hot map[dedupKey]keyVal // key → seq and digest, for the events above mergingUpTo
	// A merge in progress holds its keys first as the map hot was
	// (frozen), then, once the merger has sorted them, as a sorted slice
	// (the map is dropped); nil both when no merge runs.
	frozen      map[dedupKey]keyVal
	sorted      []keySeq
	mergingUpTo int64 // the last events.id whose key the merge holds
	upTo        int64 // the last events.id whose key is here or on disk
	stale       bool  // another connection wrote, or a commit's outcome is unknown
	limit       int   // merge when hot holds this many
}

// keyVal is what a key stands for: the original's seq, and its content
// digest (0: unknown), which tells a duplicate from a conflict.
type keyVal struct {
	seq    int64
	digest eventagg.Digest
}

type keySeq struct {
	key dedupKey
	keyVal
}

func (k *recentKeys) get(key dedupKey) (keyVal, bool) {
	if v, ok := k.hot[key]; ok {
		return v, true
	}
	if k.frozen != nil {
		v, ok := k.frozen[key]
		return v, ok
	}
	if i, ok := slices.BinarySearchFunc(k.sorted, key, func(e keySeq, key dedupKey) int { return bytes.Compare(e.key[:], key[:]) }); ok {
		return k.sorted[i].keyVal, true
	}
	return keyVal{}, false
}

// merging says whether a merge holds keys.
func (k *recentKeys) merging() bool { return k.frozen != nil || k.sorted != nil }

func (k *recentKeys) count() int { return len(k.hot) + len(k.frozen) + len(k.sorted) }

// freeze hands the hot keys to a merge (none may be running), adding them
// to the filter first: a key is in the filter before it is on disk.
func (k *recentKeys) freeze(f *keyFilter) {
	f.addAll(k.hot)
	k.frozen, k.mergingUpTo = k.hot, k.upTo
	k.hot = make(map[dedupKey]keyVal, k.limit)
}

func sortedPairs(m map[dedupKey]keyVal) []keySeq {
	out := make([]keySeq, 0, len(m))
	for key, v := range m {
		out = append(out, keySeq{key, v})
	}
	slices.SortFunc(out, func(a, b keySeq) int { return bytes.Compare(a.key[:], b.key[:]) })
	return out
}

// loadKeys reads, at Open, the keys of every event above keys_merged.
func (s *Store) loadKeys(ctx context.Context) error {
	if err := s.loadFilter(ctx); err != nil {
		return err
	}
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
		rows, err := q.QueryContext(ctx, `SELECT id, topic_id, seq, event_id, digest FROM events WHERE id > ? ORDER BY id LIMIT 10000`, k.upTo)
		if err != nil {
			return fmt.Errorf("read recent keys: %w", err)
		}
		n := 0
		for rows.Next() {
			var id, topic, seq int64
			var eventID string
			var digest eventagg.Digest
			if err := rows.Scan(&id, &topic, &seq, &eventID, &digest); err != nil {
				rows.Close()
				return fmt.Errorf("read recent keys: %w", err)
			}
			k.hot[keyOf(topic, eventID)] = keyVal{seq, digest}
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
			k.freeze(&s.filter)
			if err := s.mergeFrozen(ctx, false); err != nil {
				return err
			}
			if err := s.compact(ctx, false); err != nil {
				return err
			}
		}
	}
}

// probeStored returns the seqs and digests of those of keys that
// dedup_recent or dedup_keys holds: one statement for a whole group.
func (s *Store) probeStored(ctx context.Context, tx *sql.Tx, keys []dedupKey) (map[dedupKey]keyVal, error) {
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
	found := map[dedupKey]keyVal{}
	for rows.Next() {
		var raw []byte
		var v keyVal
		if err := rows.Scan(&raw, &v.seq, &v.digest); err != nil {
			return nil, fmt.Errorf("probe dedup keys: %w", err)
		}
		// A key in both tables (a compaction cut short) may have a digest
		// in one only: the one it has is the original's.
		if old, ok := found[dedupKey(raw)]; !ok || old.digest == 0 {
			found[dedupKey(raw)] = v
		}
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

// mergeFrozen writes the frozen keys into dedup_recent in key order, a chunk
// per transaction, and with the last chunk moves keys_merged. locked says
// whether to take writeMu for each chunk (the background merger) or whether
// the caller has the store to itself (Open). A merge cut short (a crash,
// Close) leaves keys_merged where it was: the keys are read again at the
// next start and merged again (INSERT OR IGNORE).
func (s *Store) mergeFrozen(ctx context.Context, locked bool) error {
	lock, unlock := func() {}, func() {}
	if locked {
		lock, unlock = s.writeMu.Lock, s.writeMu.Unlock
		s.mergeMu.Lock() // one merge at a time
		defer s.mergeMu.Unlock()
	}
	lock()
	m, pairs, upTo := s.keys.frozen, s.keys.sorted, s.keys.mergingUpTo
	unlock()
	if m != nil {
		// The frozen map is only read from here on, by this and the
		// writer, so it is sorted without holding up publishing.
		pairs = sortedPairs(m)
		lock()
		s.keys.sorted, s.keys.frozen = pairs, nil
		unlock()
	}
	if pairs == nil {
		return nil
	}
	for start := 0; ; start += mergeChunk {
		chunk := pairs[start:min(start+mergeChunk, len(pairs))]
		last := start+len(chunk) == len(pairs)
		lock()
		err := s.mergeChunk(ctx, chunk, upTo, last)
		if err == nil && last {
			s.keys.sorted = nil
		}
		unlock()
		if err != nil {
			return fmt.Errorf("merge dedup keys: %w", err)
		}
		if last {
			return nil
		}
	}
}

func (s *Store) mergeChunk(ctx context.Context, chunk []keySeq, upTo int64, last bool) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	args := make([]any, 0, 3*len(chunk))
	for _, e := range chunk {
		args = append(args, e.key[:], e.seq, e.digest)
	}
	added, err := s.stmts.mergeKeys.exec(ctx, tx, args)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET keys_recent = keys_recent + ? WHERE id = 1`, added); err != nil {
		return err
	}
	if last {
		if _, err := tx.ExecContext(ctx, `UPDATE counters SET keys_merged = max(keys_merged, ?) WHERE id = 1`, upTo); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// compact moves dedup_recent into dedup_keys, in key order, a chunk per
// transaction, once it holds an eighth as many keys as dedup_keys (and at
// least twice a merge's worth, so a young store does not compact at every
// merge). A compaction cut short leaves the rest for the next one; a key
// is never in neither table.
func (s *Store) compact(ctx context.Context, locked bool) error {
	lock, unlock := func() {}, func() {}
	if locked {
		lock, unlock = s.writeMu.Lock, s.writeMu.Unlock
		s.mergeMu.Lock()
		defer s.mergeMu.Unlock()
	}
	var recent, stored int64
	lock()
	err := s.w.QueryRowContext(ctx, `SELECT keys_recent, keys_stored FROM counters WHERE id = 1`).Scan(&recent, &stored)
	unlock()
	if err != nil {
		return fmt.Errorf("compact dedup keys: %w", err)
	}
	if recent < 2*int64(s.keys.limit) || recent*8 < stored {
		return nil
	}
	for done := false; !done; {
		lock()
		done, err = s.compactChunk(ctx)
		unlock()
		if err != nil {
			return fmt.Errorf("compact dedup keys: %w", err)
		}
	}
	return nil
}

func (s *Store) compactChunk(ctx context.Context) (done bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var last []byte
	if err := tx.QueryRowContext(ctx, `SELECT max(key) FROM (SELECT key FROM dedup_recent ORDER BY key LIMIT ?)`, mergeChunk).Scan(&last); err != nil {
		return false, err
	}
	if last == nil {
		return true, nil
	}
	ins, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO dedup_keys (key, seq, digest) SELECT key, seq, digest FROM dedup_recent WHERE key <= ? ORDER BY key`, last)
	if err != nil {
		return false, err
	}
	del, err := tx.ExecContext(ctx, `DELETE FROM dedup_recent WHERE key <= ?`, last)
	if err != nil {
		return false, err
	}
	added, _ := ins.RowsAffected()
	moved, _ := del.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET keys_recent = keys_recent - ?, keys_stored = keys_stored + ? WHERE id = 1`, moved, added); err != nil {
		return false, err
	}
	return moved < mergeChunk, tx.Commit()
}

// mergeSoon freezes the recent keys for a merge, unless one is running or
// there are none, and wakes the merger. The caller holds writeMu.
func (s *Store) mergeSoon() {
	if !s.keys.merging() && len(s.keys.hot) > 0 {
		s.keys.freeze(&s.filter)
	}
	s.wakeMerger()
}

// wakeMerger wakes the merger, unless a wake is pending already.
func (s *Store) wakeMerger() {
	select {
	case s.mergeWake <- struct{}{}:
	default:
	}
}

// merger merges frozen keys, and the recent levels of topic names and
// in-order events, in the background until ctx ends; Append wakes it. A
// failed merge (a full disk, say) keeps its keys frozen, or its levels
// recent, and is tried again at the next wake, which every group gives
// while hot or the levels are full.
func (s *Store) merger(ctx context.Context) {
	defer close(s.mergerDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.mergeWake:
			if s.mergeFrozen(ctx, true) == nil {
				s.compact(ctx, true) //nolint:errcheck // tried again after the next merge
			}
			s.mergeLevels(ctx, false) //nolint:errcheck // likewise
		}
	}
}
