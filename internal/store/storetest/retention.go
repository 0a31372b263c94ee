package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// testRetention: events committed before the horizon lose their contents
// once applied; their keys and seqs stay, across a restart (a retry is a
// duplicate of its seq, each topic's seq goes on), listings start at the
// first retained event and say how many they skipped, and the counters
// keep adding up.
func testRetention(t *testing.T, open func() eventagg.Store) {
	ctx := context.Background()
	s := open()
	defer func() { s.Close() }()
	if _, ok := s.(eventagg.Expirer); !ok {
		t.Skip("this store does not expire events")
	}
	expire := func(before time.Time, want int) {
		t.Helper()
		// A store may need more than one pass before an event can go (the
		// SQLite store first merges its keys): pass until it has expired
		// want, or for as long as the test may run.
		total, deadline := 0, time.Now().Add(20*time.Second)
		for total < want && time.Now().Before(deadline) {
			n, err := s.(eventagg.Expirer).Expire(ctx, before, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if n, err := s.(eventagg.Expirer).Expire(ctx, before, 64); err != nil || total+n != want {
			t.Fatalf("expired %d, then %d more (%v), want %d", total, n, err, want)
		}
	}
	events := func(from, n int) []eventagg.Event {
		var out []eventagg.Event
		for i := from; i < from+n; i++ {
			out = append(out, Ev(fmt.Sprint("t", i%3), fmt.Sprintf("%08x-old-%d", i*2654435761, i), i))
		}
		return out
	}
	old := events(0, 300) // three topics, 100 each
	var first []eventagg.Appended
	for g := 0; g < 3; g++ {
		first = append(first, mustAppend(t, s, old[g*100:g*100+100]...)...)
	}
	gone := []eventagg.Event{Ev("gone", "1", 0), Ev("gone", "2", 0), Ev("gone", "3", 0)} // a topic all of whose events expire
	mustAppend(t, s, gone...)
	positions := page(t, s, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 300}).Events
	horizon := time.Now()
	for !time.Now().After(horizon) {
		// the recent events must be committed after the horizon
	}
	expire(horizon, 0) // nothing applied yet
	recent := events(300, 30)
	mustAppend(t, s, recent...)
	drain(t, s, 1000)
	expire(horizon, 303)

	s.Close()
	s = open() // what expired stays expired, and the keys stay too
	again := mustAppend(t, s, append(old, gone...)...)
	first = append(first, acc(1), acc(2), acc(3))
	for i, a := range again {
		if !a.Duplicate || a.Seq != first[i].Seq {
			t.Fatalf("expired event %d sent again: %+v, want a duplicate of seq %d", i, a, first[i].Seq)
		}
	}
	// The digests outlive the contents: other content under an expired
	// key is still a conflict.
	want(t, mustAppend(t, s, other(old[4]), other(gone[2])), cnf(first[4].Seq), cnf(3))
	p := page(t, s, eventagg.EventQuery{Topic: "t1", Order: eventagg.ByArrival, Limit: 100})
	if len(p.Events) != 10 || p.Events[0].Seq != 101 || p.Skipped != 100 {
		t.Fatalf("t1 from the start: %d events, first %+v, skipped %d; want 10 from seq 101, 100 skipped", len(p.Events), p.Events[0], p.Skipped)
	}
	if p := page(t, s, eventagg.EventQuery{Topic: "t1", Order: eventagg.ByArrival, Limit: 100, After: eventagg.Cursor{Order: eventagg.ByArrival, Pos: 101}}); len(p.Events) != 9 || p.Skipped != 0 {
		t.Fatalf("t1 after seq 101: %d events, skipped %d; want 9, none skipped", len(p.Events), p.Skipped)
	}
	if p := page(t, s, eventagg.EventQuery{Topic: "t1", Order: eventagg.ByTime, Limit: 100}); len(p.Events) != 10 || p.Events[0].Seq != 101 {
		t.Fatalf("t1 in time order: %d events, want the 10 retained", len(p.Events))
	}
	// A tailing reader of a topic with nothing retained moves past what
	// it skipped, so its next poll skips nothing.
	p = page(t, s, eventagg.EventQuery{Topic: "gone", Order: eventagg.ByArrival, Limit: 100})
	if len(p.Events) != 0 || p.Skipped != 3 || p.Last.Pos != 3 {
		t.Fatalf("gone from the start: %d events, skipped %d, last %v; want none, 3 skipped, last seq 3", len(p.Events), p.Skipped, p.Last)
	}
	if p := page(t, s, eventagg.EventQuery{Topic: "gone", Order: eventagg.ByArrival, Limit: 100, After: p.Last}); len(p.Events) != 0 || p.Skipped != 0 {
		t.Fatalf("gone after its last: %d events, skipped %d", len(p.Events), p.Skipped)
	}
	p = page(t, s, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 100})
	if len(p.Events) != 30 || p.Events[0].EventID != recent[0].EventID || p.Skipped != 303 {
		t.Fatalf("all topics from the start: %d events, skipped %d; want 30 from %s, 303 skipped", len(p.Events), p.Skipped, recent[0].EventID)
	}
	after := eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: positions[249].Position}
	if p := page(t, s, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 100, After: after}); len(p.Events) != 30 || p.Skipped != 53 {
		t.Fatalf("all topics after the 250th: %d events, skipped %d; want 30, 53 skipped", len(p.Events), p.Skipped)
	}
	ts := topic(t, s, "t1")
	if ts.LastSeq != 110 || ts.Processed != 110 || ts.Received != 211 || ts.Duplicates != 100 || ts.Conflicts != 1 {
		t.Fatalf("topic t1 = %+v; want last seq 110, all processed, 100 duplicates", ts)
	}
	st := stats(t, s)
	if st.Expired != 303 || st.Stored != 333 || st.Processed != 333 || st.Conflicts != 2 || st.Received != st.Processed+st.Duplicates+st.Conflicts {
		t.Fatalf("stats %+v; want 303 expired of 333 stored, all processed, received = processed + duplicates", st)
	}
	want(t, mustAppend(t, s, Ev("t0", "new", 0)), acc(111))
}

func page(t *testing.T, s eventagg.Store, q eventagg.EventQuery) eventagg.EventPage {
	t.Helper()
	p, err := s.Events(context.Background(), q)
	if err != nil {
		t.Fatalf("Events(%+v): %v", q, err)
	}
	return p
}
