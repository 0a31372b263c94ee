package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
)

// keyFilter says whether a key may be on disk (in dedup_recent or
// dedup_keys), so that a new event, whose key is nowhere, costs no probe of
// a ten-million-key index: a scalable Bloom filter, a list of filters each
// twice the capacity of the one before, each with 10 bits and 7 hashes a
// key (under 1% false positives each). It is the one part of the writer's
// memory that grows with history: about 1.3 to 2.5 bytes per stored key.
//
// It never says no for a key on disk: a key is added when its recent set
// is frozen for a merge, before the merge writes it, and at Open every key
// already on disk is read into it.
type keyFilter struct{ parts []bloomPart }

type bloomPart struct {
	bits []uint64
	mask uint64 // bit count - 1 (a power of two)
	n    int    // keys added
	cap  int    // keys it was sized for
}

const (
	bloomHashes   = 7
	bloomFirstCap = 1 << 20
)

func newBloomPart(capacity int) bloomPart {
	nbits := uint64(1)
	for nbits < uint64(capacity)*10 {
		nbits <<= 1
	}
	return bloomPart{bits: make([]uint64, nbits/64), mask: nbits - 1, cap: capacity}
}

// The key is already a SHA-256 prefix: its halves are two independent
// hashes, combined as h1 + i·h2 (Kirsch and Mitzenmacher).
func bloomHashPair(key dedupKey) (uint64, uint64) {
	return binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:]) | 1
}

func (f *keyFilter) add(key dedupKey) {
	if len(f.parts) == 0 || f.parts[len(f.parts)-1].n >= f.parts[len(f.parts)-1].cap {
		c := bloomFirstCap
		if len(f.parts) > 0 {
			c = 2 * f.parts[len(f.parts)-1].cap
		}
		f.parts = append(f.parts, newBloomPart(c))
	}
	p := &f.parts[len(f.parts)-1]
	h1, h2 := bloomHashPair(key)
	for i := uint64(0); i < bloomHashes; i++ {
		b := (h1 + i*h2) & p.mask
		p.bits[b/64] |= 1 << (b % 64)
	}
	p.n++
}

func (f *keyFilter) mayContain(key dedupKey) bool {
	h1, h2 := bloomHashPair(key)
	for i := range f.parts {
		p := &f.parts[i]
		found := true
		for j := uint64(0); j < bloomHashes && found; j++ {
			b := (h1 + j*h2) & p.mask
			found = p.bits[b/64]&(1<<(b%64)) != 0
		}
		if found {
			return true
		}
	}
	return false
}

func (f *keyFilter) addAll(m map[dedupKey]keyVal) {
	for key := range m {
		f.add(key)
	}
}

// loadFilter reads every key on disk into the filter (at Open).
func (s *Store) loadFilter(ctx context.Context) error {
	for _, table := range []string{"dedup_keys", "dedup_recent"} {
		rows, err := s.w.QueryContext(ctx, `SELECT key FROM `+table)
		if err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				rows.Close()
				return fmt.Errorf("read %s: %w", table, err)
			}
			s.filter.add(dedupKey(raw))
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
	}
	return nil
}
