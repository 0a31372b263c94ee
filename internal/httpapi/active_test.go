package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// TestActiveTopicsBounded feeds 100,000 topics once each and three hot ones
// often: the hot ones rank first with counts that are lower bounds within
// the documented error, memory stays at the bound, and a minute later they
// are gone.
func TestActiveTopicsBounded(t *testing.T) {
	var a activeTopics
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 100_000; i++ {
		a.add(now, fmt.Sprint("cold.", i), 1)
		if i%10 == 0 {
			a.add(now, "hot.a", 3)
			a.add(now, "hot.b", 2)
			a.add(now, "hot.c", 1)
		}
	}
	for i := range a.slots {
		if n := len(a.slots[i].counts); n > activeSlotSize {
			t.Fatalf("slot %d holds %d topics, bound %d", i, n, activeSlotSize)
		}
	}
	top := a.top(now, 3)
	const total = 100_000 + 60_000 // events added
	for i, want := range []struct {
		topic string
		n     int64
	}{{"hot.a", 30_000}, {"hot.b", 20_000}, {"hot.c", 10_000}} {
		if i >= len(top) || top[i].Topic != want.topic || top[i].Events > want.n || top[i].Events < want.n-total/activeSlotSize {
			t.Fatalf("top = %+v, want %s first with about %d", top, want.topic, want.n)
		}
	}
	if got := a.top(now.Add(activeSlots*activeSlotLen), 3); len(got) != 0 {
		t.Fatalf("a minute later: %+v", got)
	}
}
