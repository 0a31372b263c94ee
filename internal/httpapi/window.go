package httpapi

import (
	"math/bits"
	"sync"
	"time"
)

// window keeps the last minute of publish traffic in one-second slots: the
// event count and a log-scale latency histogram per slot. Memory is fixed.
type window struct {
	mu    sync.Mutex
	slots [60]slot
}

type slot struct {
	sec    int64 // unix second this slot holds; stale slots are skipped
	events int64
	hist   [latencyBuckets]uint32
}

// Latency buckets: 4 per power of two of microseconds, up to ~2^31 µs.
const latencyBuckets = 32 * 4

func bucketOf(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 1))
	exp := bits.Len64(us) - 1 // us in [2^exp, 2^(exp+1))
	sub := 0
	if exp >= 2 {
		sub = int(us>>(exp-2)) & 3 // next two bits after the leading one
	}
	return min(exp*4+sub, latencyBuckets-1)
}

// upperBound is the largest latency that falls in bucket b.
func upperBound(b int) time.Duration {
	exp, sub := b/4, b%4
	us := uint64(1) << exp
	if exp >= 2 {
		us += uint64(sub+1) << (exp - 2)
	} else {
		us <<= 1
	}
	return time.Duration(us-1) * time.Microsecond
}

func (w *window) record(now time.Time, events int, d time.Duration) {
	sec := now.Unix()
	w.mu.Lock()
	s := &w.slots[sec%60]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.events += int64(events)
	s.hist[bucketOf(d)]++
	w.mu.Unlock()
}

// summary returns events/s over the last 60 s and the p50/p99 publish
// latency (upper bounds of their histogram buckets, within 25%).
func (w *window) summary(now time.Time) (rate float64, p50, p99 time.Duration) {
	sec := now.Unix()
	var hist [latencyBuckets]uint64
	var events, total uint64
	w.mu.Lock()
	for i := range w.slots {
		s := &w.slots[i]
		if s.sec <= sec-60 || s.sec > sec {
			continue
		}
		events += uint64(s.events)
		for b, n := range s.hist {
			hist[b] += uint64(n)
			total += uint64(n)
		}
	}
	w.mu.Unlock()
	return float64(events) / 60, quantile(&hist, total, 0.50), quantile(&hist, total, 0.99)
}

func quantile(hist *[latencyBuckets]uint64, total uint64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for b, n := range hist {
		seen += n
		if seen >= rank {
			return upperBound(b)
		}
	}
	return upperBound(latencyBuckets - 1)
}
