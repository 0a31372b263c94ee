package httpapi

import (
	"testing"
	"time"
)

func TestWindowSummary(t *testing.T) {
	w := &window{}
	start := time.Unix(1_000_000, 0)
	for i := 0; i < 99; i++ {
		w.record(start.Add(time.Duration(i)*100*time.Millisecond), 10, time.Millisecond)
	}
	w.record(start.Add(10*time.Second), 10, time.Second)
	rate, p50, p99 := w.summary(start.Add(20 * time.Second))
	if rate != 1000.0/60 {
		t.Errorf("rate %v, want %v", rate, 1000.0/60)
	}
	if p50 < time.Millisecond || p50 > 1070*time.Microsecond {
		t.Errorf("p50 %v, want about 1ms", p50)
	}
	if p99 < time.Millisecond || p99 > 1070*time.Microsecond {
		t.Errorf("p99 %v, want about 1ms (1 slow request in 100 is beyond p99)", p99)
	}
	// A minute later the old slots no longer count.
	if rate, p50, _ := w.summary(start.Add(2 * time.Minute)); rate != 0 || p50 != 0 {
		t.Errorf("stale window: rate %v p50 %v", rate, p50)
	}
}
