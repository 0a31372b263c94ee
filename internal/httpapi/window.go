package httpapi

import (
	"sync"
	"time"

	"github.com/eventagg/eventagg/internal/latency"
)

// window keeps the last minute of publish traffic in one-second slots: the
// event count and a latency histogram per slot. Memory is fixed.
type window struct {
	mu    sync.Mutex
	slots [60]slot
}

type slot struct {
	sec    int64 // unix second this slot holds; stale slots are skipped
	events int64
	hist   latency.Histogram
}

func (w *window) record(now time.Time, events int, d time.Duration) {
	sec := now.Unix()
	w.mu.Lock()
	s := &w.slots[sec%60]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.events += int64(events)
	s.hist.Record(d)
	w.mu.Unlock()
}

// summary returns events/s over the last 60 s and the p50/p99 publish
// latency.
func (w *window) summary(now time.Time) (rate float64, p50, p99 time.Duration) {
	sec := now.Unix()
	var hist latency.Histogram
	var events int64
	w.mu.Lock()
	for i := range w.slots {
		s := &w.slots[i]
		if s.sec <= sec-60 || s.sec > sec {
			continue
		}
		events += s.events
		hist.Merge(&s.hist)
	}
	w.mu.Unlock()
	return float64(events) / 60, hist.Quantile(0.50), hist.Quantile(0.99)
}
