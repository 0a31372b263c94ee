package sqlite

import "context"

// MergeNow freezes the recent keys and merges them, as the background
// merger would, and returns once they are in dedup_keys.
func (s *Store) MergeNow(ctx context.Context) error {
	s.writeMu.Lock()
	if !s.keys.merging() {
		s.keys.freeze()
	}
	s.writeMu.Unlock()
	return s.mergeFrozen(ctx, true)
}

// MergePart freezes the recent keys and merges only the first n of them in
// key order, as a merge cut short by a crash would leave them.
func (s *Store) MergePart(ctx context.Context, n int) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if !s.keys.merging() {
		s.keys.freeze()
	}
	pairs := sortedPairs(s.keys.frozen)
	return s.mergeChunk(ctx, pairs[:min(n, len(pairs))], s.keys.mergingUpTo, false)
}

// RecentKeyCount is how many keys the writer holds in memory.
func (s *Store) RecentKeyCount() int {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.keys.count()
}
