package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// testOrdersAgreeWithSorting appends a topic's events in groups, most in
// time and clock order, some late, some ahead of those that follow (and
// some clockless), with other topics between, and checks after each group that the time and causal
// listings, at every page size, are its events sorted by (time, seq) and
// (clock, seq); and that a listing continued from a cursor taken before
// the group sees exactly the events after that cursor, the group's
// included; and the same after the store is opened again. A store may list
// in-order events and late ones apart and merge them (both do); this is
// where a merge would go wrong.
func testOrdersAgreeWithSorting(t *testing.T, open func() eventagg.Store) {
	s := open()
	defer func() { s.Close() }()
	r := rand.New(rand.NewPCG(1, 2))
	sec, clock := 0, int64(0)
	var cursors []eventagg.EventQuery // listings stopped part-way, to continue later
	for group := 0; group < 12; group++ {
		if group%4 == 3 {
			// Opened again, a store reads each topic's largest time and
			// clock back (a late event may hold one of them).
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
		}
		var evs []eventagg.Event
		for i := 0; i < 1+r.IntN(25); i++ {
			e := Ev("a", fmt.Sprintf("g%d-%d", group, i), sec)
			switch r.IntN(8) {
			case 0, 1: // late, by up to a minute, sometimes a tie
				e.Timestamp = e.Timestamp.Add(-time.Duration(r.IntN(60)) * time.Second)
			case 2: // ahead of those that follow: they are late
				e.Timestamp = e.Timestamp.Add(time.Duration(1+r.IntN(30)) * time.Second)
			default:
				sec += r.IntN(3)
			}
			switch r.IntN(6) {
			case 0: // clockless: the topic's largest clock
			case 1:
				e.Clock, e.HasClock = max(0, clock-int64(r.IntN(20))), true
			case 2: // ahead
				e.Clock, e.HasClock = clock+1+int64(r.IntN(20)), true
			default:
				clock += int64(r.IntN(3))
				e.Clock, e.HasClock = clock, true
			}
			evs = append(evs, e, Ev(fmt.Sprintf("other%d", r.IntN(5)), e.EventID, sec-r.IntN(100)))
		}
		mustAppend(t, s, evs...)
		for _, q := range cursors {
			checkOrderFrom(t, s, q)
		}
		cursors = cursors[:0]
		for _, order := range []eventagg.Order{eventagg.ByTime, eventagg.ByCausal} {
			for _, limit := range []int{1, 2, 7, 1000} {
				checkOrderFrom(t, s, eventagg.EventQuery{Topic: "a", Order: order, Limit: limit})
			}
			// Stop part-way, at an event in order or a late one.
			for _, n := range []int{1 + r.IntN(5), 5 + r.IntN(20)} {
				p := page(t, s, eventagg.EventQuery{Topic: "a", Order: order, Limit: n})
				cursors = append(cursors, eventagg.EventQuery{Topic: "a", Order: order, Limit: 1 + r.IntN(9), After: p.Last})
			}
		}
	}
}

// checkOrderFrom lists q's topic from q.After to the end, page by page,
// and compares it with all its events, sorted by q's order, past q.After.
func checkOrderFrom(t *testing.T, s eventagg.Store, q eventagg.EventQuery) {
	t.Helper()
	ctx := context.Background()
	all, err := s.Events(ctx, eventagg.EventQuery{Topic: q.Topic, Order: eventagg.ByArrival, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	key := func(e eventagg.StoredEvent) int64 {
		if q.Order == eventagg.ByCausal {
			return e.Clock
		}
		return e.Timestamp.UnixMicro()
	}
	sorted := slices.Clone(all.Events)
	slices.SortFunc(sorted, func(a, b eventagg.StoredEvent) int {
		if c := key(a) - key(b); c != 0 {
			return int(c / max(c, -c))
		}
		return int(a.Seq - b.Seq)
	})
	var want []string
	for _, e := range sorted {
		if q.After.IsZero() || key(e) > q.After.Key || key(e) == q.After.Key && e.Seq > q.After.Pos {
			want = append(want, fmt.Sprintf("%s/%d", e.EventID, e.Seq))
		}
	}
	var got []string
	for pages := 0; ; pages++ {
		p, err := s.Events(ctx, q)
		if err != nil {
			t.Fatalf("Events(%+v): %v", q, err)
		}
		for _, e := range p.Events {
			got = append(got, fmt.Sprintf("%s/%d", e.EventID, e.Seq))
		}
		if p.Next.IsZero() || pages > 10000 {
			break
		}
		q.After = p.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s listing, pages of %d from %+v:\n got %v\nwant %v", q.Order, q.Limit, q.After, got, want)
	}
}
