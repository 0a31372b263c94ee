// Package latency records durations in a fixed-size, log-linear histogram
// (HDR-style): every value lands in a bucket at most 1/16 (6.25%) wider than
// itself, from 1 µs to about 2^40 µs, in 5 KiB whatever the count.
package latency

import (
	"math/bits"
	"time"
)

const (
	subBits  = 4 // 16 linear sub-buckets per power of two
	subCount = 1 << subBits
	exps     = 41
	buckets  = exps * subCount
)

// Histogram counts durations. The zero value is ready to use; it is not
// safe for concurrent use (callers hold their own lock or keep one each and
// Merge).
type Histogram struct {
	counts [buckets]uint32
	total  uint64
	max    time.Duration
}

func bucketOf(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < subCount {
		return int(us) // exact below 16 µs
	}
	exp := bits.Len64(us) - 1 - subBits
	sub := int(us>>exp) & (subCount - 1)
	return min((exp+1)*subCount+sub, buckets-1)
}

// upper is the largest duration that falls in bucket b.
func upper(b int) time.Duration {
	if b < subCount {
		return time.Duration(b) * time.Microsecond
	}
	exp := b/subCount - 1
	sub := uint64(b % subCount)
	us := (subCount+sub+1)<<exp - 1
	return time.Duration(us) * time.Microsecond
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
	h.max = max(h.max, d)
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest duration recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q ≤ 1) as the upper bound of its
// bucket, never above Max; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total-1)) + 1
	var seen uint64
	for b, n := range h.counts {
		seen += uint64(n)
		if seen >= rank {
			return min(upper(b), h.max)
		}
	}
	return h.max
}
