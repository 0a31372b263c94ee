package client

import (
	"encoding/json"
	"sync"
	"testing"
)

func TestClockTickAndObserve(t *testing.T) {
	var c Clock
	if c.Tick() != 1 || c.Tick() != 2 {
		t.Fatal("ticks do not count from 1")
	}
	c.Observe(10)
	c.Observe(4) // older: no effect
	if got := c.Tick(); got != 11 {
		t.Fatalf("after observing 10, tick = %d, want 11", got)
	}
	// Concurrent observers and tickers: the clock ends at least at the
	// largest observed, and every tick is distinct.
	var wg sync.WaitGroup
	ticks := make(chan int64, 1000)
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				c.Observe(int64(g * 50))
				ticks <- c.Tick()
			}
		}()
	}
	wg.Wait()
	close(ticks)
	seen := map[int64]bool{}
	for tk := range ticks {
		if seen[tk] {
			t.Fatalf("tick %d handed out twice", tk)
		}
		seen[tk] = true
	}
	if c.Now() < 450+1 {
		t.Fatalf("clock %d is below an observed 450", c.Now())
	}
}

func TestStampAddsAClockOnlyWhenMissing(t *testing.T) {
	var c Clock
	c.Observe(41)
	// In a fixed order, so the ticks are known.
	for _, c2 := range []struct{ in, want string }{
		{`{"topic":"t"}`, `{"clock":42,"topic":"t"}`},
		{` { } `, `{"clock":43 }`},
		{`{"payload":{"clock":"not this one"}}`, `{"clock":44,"payload":{"clock":"not this one"}}`},
		{`{"clock":7,"topic":"t"}`, `{"clock":7,"topic":"t"}`},
		{`["not an object"]`, `["not an object"]`},
	} {
		got := c.stamp(json.RawMessage(c2.in))
		if string(got) != c2.want {
			t.Errorf("stamp(%s) = %s, want %s", c2.in, got, c2.want)
		}
	}
}
