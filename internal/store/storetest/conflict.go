package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// other is ev with other content under the same key: a conflict if ev
// is stored.
func other(e eventagg.Event) eventagg.Event {
	e.Payload = []byte(fmt.Sprintf(`{"id":%q,"other":true}`, e.EventID))
	return e
}

// respelled is ev's content written another way (key order, spacing,
// number form), with another clock: still the same event.
func respelled(e eventagg.Event) eventagg.Event {
	e.Payload = []byte(fmt.Sprintf(`{ "id" : "%s" }`, e.EventID))
	e.Clock, e.HasClock = 99, true
	return e
}

func testConflicts(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	x, y := Ev("a", "x", 0), Ev("a", "y", 0)
	mustAppend(t, s, x, y)
	ts := x
	ts.Timestamp = ts.Timestamp.Add(time.Microsecond)
	src := y
	src.Source = "elsewhere"
	want(t, mustAppend(t, s, respelled(x), other(x), ts, Ev("a", "z", 0), src),
		dup(1), cnf(1), cnf(1), acc(3), cnf(2))
	// Nothing of a conflict is stored: the original reads back.
	p := page(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByArrival, Limit: 10})
	if len(p.Events) != 3 || string(p.Events[0].Payload) != string(x.Payload) || p.Events[1].Source != y.Source {
		t.Fatalf("events = %+v", p.Events)
	}
	drain(t, s, 10)
	st := stats(t, s)
	if st.Received != 7 || st.Stored != 3 || st.Duplicates != 1 || st.Conflicts != 3 || st.Received != st.Processed+st.Duplicates+st.Conflicts {
		t.Fatalf("stats = %+v, want 7 received = 3 processed + 1 duplicate + 3 conflicts", st)
	}
	if a := topic(t, s, "a"); a.Conflicts != 3 || a.Duplicates != 1 || a.Received != 7 || a.LastSeq != 3 {
		t.Fatalf("topic a = %+v, want 3 conflicts, 1 duplicate, 7 received", a)
	}
}

// testInGroupConflicts: a repeat within a group is judged against its first
// occurrence's original, whether that was stored before or is new now.
func testInGroupConflicts(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	old := Ev("a", "old", 0)
	mustAppend(t, s, old)
	x := Ev("a", "x", 0)
	want(t, mustAppend(t, s, x, other(x), respelled(x), other(old), other(old), old, Ev("b", "x", 0)),
		acc(2), cnf(2), dup(2), cnf(1), cnf(1), dup(1), acc(1))
	st := stats(t, s)
	if st.Conflicts != 3 || st.Duplicates != 2 || st.Stored != 3 || st.Received != 8 {
		t.Fatalf("stats = %+v, want 3 conflicts, 2 duplicates, 3 stored of 8", st)
	}
	if a, b := topic(t, s, "a"), topic(t, s, "b"); a.Conflicts != 3 || a.Duplicates != 2 || a.Received != 7 || b.Conflicts != 0 || b.Received != 1 {
		t.Fatalf("topics a = %+v, b = %+v", a, b)
	}
}

// testManyTopicConflicts: a group over thousands of topics, each with a
// duplicate and a conflict of a stored event and one of a new one.
func testManyTopicConflicts(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	const topics = 2000
	name := func(k int) string { return fmt.Sprintf("tenant.%05d", k) }
	var first, second []eventagg.Event
	for k := 0; k < topics; k++ {
		first = append(first, Ev(name(k), "a", k))
	}
	mustAppend(t, s, first...)
	for k := 0; k < topics; k++ {
		a, b := Ev(name(k), "a", k), Ev(name(k), "b", k)
		second = append(second, b)
		if k%2 == 0 {
			second = append(second, other(a), a)
		} else {
			second = append(second, a, other(a), other(b))
		}
	}
	out := mustAppend(t, s, second...)
	for i, a := range out {
		e := second[i]
		w := acc(2)
		switch original := string(e.Payload) == fmt.Sprintf(`{"id":%q}`, e.EventID); {
		case e.EventID == "a" && original:
			w = dup(1)
		case e.EventID == "a":
			w = cnf(1)
		case !original:
			w = cnf(2) // of the b earlier in this group
		}
		if verdictOf(a) != w {
			t.Fatalf("event %d (%s %s %s): %+v, want %+v", i, e.Topic, e.EventID, e.Payload, a, w)
		}
	}
	drain(t, s, 1000)
	st := stats(t, s)
	if st.Conflicts != topics+topics/2 || st.Duplicates != topics || st.Stored != 2*topics || st.Received != st.Processed+st.Duplicates+st.Conflicts {
		t.Fatalf("stats = %+v, want %d conflicts, %d duplicates", st, topics+topics/2, topics)
	}
	if got := topic(t, s, name(1)); got.Conflicts != 2 || got.Duplicates != 1 || got.Received != 5 {
		t.Fatalf("topic %s = %+v", name(1), got)
	}
}

// testConflictsReopen: digests are as durable as keys, across restarts
// (and, for a store that moves its keys, through every move).
func testConflictsReopen(t *testing.T, open func() eventagg.Store) {
	s := open()
	var evs []eventagg.Event
	for i := 0; i < 50; i++ {
		evs = append(evs, Ev(fmt.Sprint("t", i%3), fmt.Sprint("e", i), i))
	}
	for i := 0; i < len(evs); i += 10 {
		mustAppend(t, s, evs[i:i+10]...)
	}
	drain(t, s, 100)
	s.Close()
	s = mustOpen(t, open)
	var again []eventagg.Event
	for i, e := range evs {
		if i%2 == 0 {
			again = append(again, other(e))
		} else {
			again = append(again, respelled(e))
		}
	}
	out := mustAppend(t, s, again...)
	for i, a := range out {
		if !a.Duplicate || a.Conflict != (i%2 == 0) || a.Seq != int64(i/3+1) {
			t.Fatalf("event %d sent again after a restart: %+v, want conflict=%v of seq %d", i, a, i%2 == 0, i/3+1)
		}
	}
}

// testClocks: a clock is stored as sent; an event without one gets the
// largest its topic had stored (earlier events of its group included);
// other topics and duplicates do not count.
func testClocks(t *testing.T, open func() eventagg.Store) {
	s := open()
	c := func(e eventagg.Event, clock int64) eventagg.Event {
		e.Clock, e.HasClock = clock, true
		return e
	}
	out := mustAppend(t, s, Ev("a", "1", 0), c(Ev("a", "2", 0), 5), Ev("a", "3", 0), c(Ev("a", "4", 0), 3), Ev("a", "5", 0),
		c(Ev("b", "1", 0), 100), c(Ev("a", "2", 0), 1000))
	for i, w := range []int64{0, 5, 5, 3, 5, 100} {
		if out[i].Clock != w {
			t.Fatalf("event %d stored with clock %d, want %d (%+v)", i, out[i].Clock, w, out)
		}
	}
	s.Close()
	s = mustOpen(t, open)
	out = mustAppend(t, s, Ev("a", "6", 0), Ev("c", "1", 0))
	if out[0].Clock != 5 || out[1].Clock != 0 {
		t.Fatalf("after a restart: %+v, want clocks 5 and 0", out)
	}
	p := page(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByArrival, Limit: 10})
	var got []int64
	for _, e := range p.Events {
		got = append(got, e.Clock)
	}
	if fmt.Sprint(got) != "[0 5 5 3 5 5]" {
		t.Fatalf("clocks read back: %v", got)
	}
}

// testPagingCausal pages through a topic in (clock, seq) order, one event
// a page and five, with a late event landing before the cursor.
func testPagingCausal(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	var evs []eventagg.Event
	for i, clock := range []int64{7, 3, 3, 9, 1, 7, 2, 8} {
		e := Ev("a", fmt.Sprint("e", i), 100-i)
		e.Clock, e.HasClock = clock, true
		evs = append(evs, e)
	}
	mustAppend(t, s, evs[:4]...)
	mustAppend(t, s, evs[4:]...)
	mustAppend(t, s, Ev("b", "noise", 0))
	const want = "[a/e4 a/e6 a/e1 a/e2 a/e0 a/e5 a/e7 a/e3]" // by clock, ties by seq
	for _, limit := range []int{1, 5, 100} {
		if got := list(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByCausal, Limit: limit}); fmt.Sprint(got) != want {
			t.Fatalf("limit %d: %v, want %s", limit, got, want)
		}
	}
	p := page(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByCausal, Limit: 3})
	if p.Next.IsZero() || p.Next.Order != eventagg.ByCausal || p.Next.Key != 3 || p.Next.Pos != 2 {
		t.Fatalf("next after three = %+v, want clock 3 seq 2", p.Next)
	}
	if _, err := s.Events(context.Background(), eventagg.EventQuery{Order: eventagg.ByCausal, Limit: 3}); eventagg.ErrorCode(err) != eventagg.EINVALID {
		t.Fatalf("causal order over all topics: %v, want invalid", err)
	}
	if _, err := s.Events(context.Background(), eventagg.EventQuery{Topic: "a", Order: eventagg.ByTime, After: p.Next, Limit: 3}); eventagg.ErrorCode(err) != eventagg.EINVALID {
		t.Fatalf("causal cursor in time order: %v, want invalid", err)
	}
}
