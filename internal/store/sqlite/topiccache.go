package sqlite

// topicCache remembers each topic's row id and last seq for the writer, so
// that a group costs no topic lookup for topics it has seen before: with
// groups spread over many topics, those lookups were a third of the
// writer's time.
//
// It is only ever right because one connection writes: the writer fills it
// from the rows it reads and moves last_seq only after its commit succeeds.
// Another process that writes the same file changes PRAGMA data_version, and
// the writer then drops everything (see Store.append).
//
// Its size is bounded: past max entries, an eighth of them (whichever the
// map's iteration gives first, so random) are forgotten and read again
// from the topics table when next needed.
type topicCache struct {
	max     int
	entries map[string]topicEntry
}

type topicEntry struct{ id, lastSeq int64 }

func newTopicCache(max int) *topicCache {
	return &topicCache{max: max, entries: make(map[string]topicEntry)}
}

func (c *topicCache) get(name string) (topicEntry, bool) {
	e, ok := c.entries[name]
	return e, ok
}

func (c *topicCache) put(name string, e topicEntry) {
	if _, ok := c.entries[name]; !ok && len(c.entries) >= c.max {
		drop := max(c.max/8, 1)
		for k := range c.entries {
			delete(c.entries, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.entries[name] = e
}

func (c *topicCache) clear() { clear(c.entries) }
