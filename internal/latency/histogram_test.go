package latency

import (
	"testing"
	"time"
)

func TestBucketsBoundEveryValue(t *testing.T) {
	for us := int64(0); us < 1<<36; us = us*9/8 + 1 {
		d := time.Duration(us) * time.Microsecond
		b := bucketOf(d)
		if ub := upper(b); ub < d || float64(ub) > float64(d)*1.0625+float64(time.Microsecond) {
			t.Fatalf("%v: bucket %d has upper bound %v", d, b, ub)
		}
		if b > 0 && upper(b-1) >= d {
			t.Fatalf("%v also fits bucket %d", d, b-1)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h, other Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	other.Record(5 * time.Second)
	h.Merge(&other)
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.9: 900 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		got := h.Quantile(q)
		if got < want || float64(got) > float64(want)*1.07 {
			t.Errorf("q%v = %v, want about %v", q, got, want)
		}
	}
	if h.Max() != 5*time.Second || h.Quantile(1) != 5*time.Second || h.Count() != 1001 {
		t.Errorf("max %v q1 %v count %d", h.Max(), h.Quantile(1), h.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}
