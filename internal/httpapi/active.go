package httpapi

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// activeTopics counts the events of each topic over about the last minute,
// for the dashboard's "most active topics", in memory that does not grow
// with the number of topics: six slots of ten seconds, each a Misra–Gries
// summary of at most activeSlotSize topics. A topic that has more than
// 1/activeSlotSize of a slot's events is always in the slot, and its count
// is short by at most that slot's events / activeSlotSize; topics rarer
// than that may be missing. It sees what this replica ingests.
type activeTopics struct {
	mu    sync.Mutex
	slots [activeSlots]activeSlot
}

const (
	activeSlots    = 6
	activeSlotLen  = 10 * time.Second
	activeSlotSize = 128
)

type activeSlot struct {
	index  int64 // which ten seconds since the epoch it counts
	counts map[string]int64
}

// activeTopic is a topic and its events in the last minute (a lower bound).
type activeTopic struct {
	Topic  string
	Events int64
}

func (a *activeTopics) slot(now time.Time) *activeSlot {
	i := now.UnixNano() / int64(activeSlotLen)
	s := &a.slots[i%activeSlots]
	if s.index != i || s.counts == nil {
		s.index, s.counts = i, make(map[string]int64, activeSlotSize)
	}
	return s
}

// add counts n events of topic.
func (a *activeTopics) add(now time.Time, topic string, n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.slot(now).counts
	if c, ok := m[topic]; ok || len(m) < activeSlotSize {
		m[topic] = c + n
		return
	}
	// Full: take the same amount off every topic, the new one included,
	// and forget those that reach zero (the Misra–Gries step).
	d := n
	for _, c := range m {
		d = min(d, c)
	}
	for k, c := range m {
		if c == d {
			delete(m, k)
		} else {
			m[k] = c - d
		}
	}
	if n > d {
		m[topic] = n - d
	}
}

// top returns at most k topics with the most events in the last minute,
// most first (ties by name).
func (a *activeTopics) top(now time.Time, k int) []activeTopic {
	a.mu.Lock()
	sum := map[string]int64{}
	newest := now.UnixNano() / int64(activeSlotLen)
	for i := range a.slots {
		if s := &a.slots[i]; s.counts != nil && newest-s.index < activeSlots {
			for t, c := range s.counts {
				sum[t] += c
			}
		}
	}
	a.mu.Unlock()
	out := make([]activeTopic, 0, len(sum))
	for t, c := range sum {
		out = append(out, activeTopic{t, c})
	}
	slices.SortFunc(out, func(x, y activeTopic) int {
		return cmp.Or(cmp.Compare(y.Events, x.Events), cmp.Compare(x.Topic, y.Topic))
	})
	return out[:min(len(out), k)]
}
