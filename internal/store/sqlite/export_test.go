package sqlite

import "context"

// MergeNow merges every key the writer holds in memory, as the background
// merger would, and returns once none is left there.
func (s *Store) MergeNow(ctx context.Context) error {
	for {
		s.writeMu.Lock()
		if !s.keys.merging() && len(s.keys.hot) > 0 {
			s.keys.freeze(&s.filter)
		}
		n := s.keys.count()
		s.writeMu.Unlock()
		if n == 0 {
			return nil
		}
		if err := s.mergeFrozen(ctx, true); err != nil {
			return err
		}
	}
}

// MergePart freezes the recent keys and merges only the first n of them in
// key order, as a merge cut short by a crash would leave them.
func (s *Store) MergePart(ctx context.Context, n int) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if !s.keys.merging() {
		s.keys.freeze(&s.filter)
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

// CompactNow moves dedup_recent into dedup_keys if it is due.
func (s *Store) CompactNow(ctx context.Context) error { return s.compact(ctx, true) }

// KeyLevels counts the rows of dedup_recent and dedup_keys.
func (s *Store) KeyLevels(ctx context.Context) (recent, stored int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM dedup_recent), (SELECT count(*) FROM dedup_keys)`).Scan(&recent, &stored)
	return recent, stored, err
}

// MergeLevelsNow merges the recent levels of names and in-order events, as
// the background merger would once they are due: it moves every row they
// hold when it starts.
func (s *Store) MergeLevelsNow(ctx context.Context) error { return s.mergeLevels(ctx, true) }

// LevelRows counts the rows of each recent level and of each large one.
func (s *Store) LevelRows(ctx context.Context) (recent, large int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM seq_in_recent) + (SELECT count(*) FROM topic_names_recent),
		(SELECT count(*) FROM seq_in) + (SELECT count(*) FROM topic_names)`).Scan(&recent, &large)
	return recent, large, err
}

// TopicCountRows counts the rows of topic_counts_recent.
func (s *Store) TopicCountRows(ctx context.Context) (n int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM topic_counts_recent`).Scan(&n)
	return n, err
}
