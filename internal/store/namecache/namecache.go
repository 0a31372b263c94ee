// Package namecache is the bounded map from topic names to what a store's
// writer remembers of them (row id, last seq), so that a group costs no
// lookup for topics seen before. Both stores use it; with a topic per
// customer there can be millions of names, so it forgets some past a bound
// instead of growing with them.
package namecache

import "sync"

// Cache maps names to V. Past Max entries, an eighth of them (whichever
// the map's iteration gives first, so at random) are forgotten and read
// again by the store when next needed. It is safe for concurrent use.
type Cache[V any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]V
}

// New returns a cache of at most max entries.
func New[V any](max int) *Cache[V] {
	return &Cache[V]{max: max, entries: make(map[string]V)}
}

func (c *Cache[V]) Get(name string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[name]
	return v, ok
}

func (c *Cache[V]) Put(name string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[name]; !ok && len(c.entries) >= c.max {
		drop := max(c.max/8, 1)
		for k := range c.entries {
			delete(c.entries, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.entries[name] = v
}

// Clear forgets everything.
func (c *Cache[V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// Len is the number of names remembered.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
