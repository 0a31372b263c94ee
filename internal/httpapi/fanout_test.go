package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
)

// TestFanoutRingAndStoreDeliverTheSameSequence: streams of all topics and
// of one, from the start and from the end, one of them reconnecting half
// way, follow concurrent publishing; each gets exactly the store's listing,
// without gap or repeat, whether its events came from the feed's ring or
// from the store. A ring of 40 events makes the streams fall behind it and
// go back to the store again and again.
func TestFanoutRingAndStoreDeliverTheSameSequence(t *testing.T) {
	for _, ring := range []int{0, 40} {
		t.Run(fmt.Sprint("ring=", ring), func(t *testing.T) {
			a := newApp(t, httpapi.Config{RingEvents: ring})
			topics := []string{"t0", "t1", "t2", "t3", "t4"}
			var history []string
			for i := 0; i < 300; i++ {
				history = append(history, ev(topics[i%5], fmt.Sprint("h", i), ts))
			}
			a.publishOK(arr(history[:150]...))
			a.publishOK(arr(history[150:]...))
			fromStart, fromEnd := a.subscribe("", ""), a.subscribe("from=end", "")
			oneFromStart, oneFromEnd := a.subscribe("topic=t1", ""), a.subscribe("topic=t1&from=end", "")
			resumed := a.subscribe("", "")

			// Four publishers, 1,000 events in batches of 25 with repeats.
			var wg sync.WaitGroup
			for p := 0; p < 4; p++ {
				wg.Add(1)
				go func(p int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(p), 1))
					for b := 0; b < 10; b++ {
						var events []string
						for i := 0; i < 25; i++ {
							id := fmt.Sprintf("p%d-%d", p, r.IntN(250))
							events = append(events, ev(topics[r.IntN(5)], id, ts))
						}
						resp := a.publish(arr(events...))
						if resp.status != http.StatusOK {
							t.Errorf("publish: %d %s", resp.status, resp.body)
						}
					}
				}(p)
			}
			// The resumed stream reconnects after its first 400.
			first := resumed.next(400)
			resumed.close()
			wg.Wait()
			all := a.readListing("", 1000)
			resumed = a.subscribe("", resumed.lastID)
			t1 := a.readListing("topic=t1", 1000)
			check := func(name string, got []string, want []string) {
				t.Helper()
				for i, g := range got {
					if k := strings.LastIndex(g, ":"); k >= 0 {
						got[i] = g[:k]
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: got %d events, want %d; first difference at %d", name, len(got), len(want), firstDiff(got, want))
				}
			}
			check("all from the start", fromStart.next(len(all)), all)
			check("all from the end", fromEnd.next(len(all)-300), all[300:])
			check("all, reconnected", append(first, resumed.next(len(all)-400)...), all)
			check("t1 from the start", oneFromStart.next(len(t1)), t1)
			check("t1 from the end", oneFromEnd.next(len(t1)-60), t1[60:])
			f := a.api.Fanout()
			if ring == 0 && f.FromRing == 0 {
				t.Fatalf("nothing came from the ring: %+v", f)
			}
			t.Logf("delivered %+v", f)
		})
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// countingStore counts the events the server's reads return.
type countingStore struct {
	eventagg.Store
	rows atomic.Int64
}

func (c *countingStore) Events(ctx context.Context, q eventagg.EventQuery) (eventagg.EventPage, error) {
	p, err := c.Store.Events(ctx, q)
	c.rows.Add(int64(len(p.Events)))
	return p, err
}

// TestStartAtTheEndReadsNoHistory: starting a stream, or finding the end
// with /events?from=end&limit=0, reads no stored event, with 10 stored or
// 5,000; the stream then gets what is published next.
func TestStartAtTheEndReadsNoHistory(t *testing.T) {
	for _, stored := range []int{10, 5000} {
		counting := &countingStore{}
		a := &app{t: t, path: t.TempDir() + "/end.db", wrap: func(s eventagg.Store) eventagg.Store { counting.Store = s; return counting }}
		a.start(httpapi.Config{})
		t.Cleanup(a.stop)
		for b := 0; b < stored; b += 1000 {
			var events []string
			for i := b; i < min(stored, b+1000); i++ {
				events = append(events, ev(fmt.Sprint("t", i%3), fmt.Sprint(i), ts))
			}
			a.publishOK(arr(events...))
		}
		before := counting.rows.Load()
		var page eventsPage
		a.get("/events?from=end&limit=0").decode(t, &page)
		var topicPage eventsPage
		a.get("/events?topic=t1&from=end&limit=0").decode(t, &topicPage)
		all, one := a.subscribe("from=end", ""), a.subscribe("topic=t1&from=end", "")
		a.publishOK(arr(ev("t1", "new", ts)))
		if got := all.next(1); got[0] != fmt.Sprintf("t1/new:%d", (stored+1)/3+1) {
			t.Fatalf("%d stored: the stream from the end got %v", stored, got)
		}
		one.next(1)
		// At most the new event was read (the feed takes it from the
		// writer); nothing stored before.
		if read := counting.rows.Load() - before; read > 2 {
			t.Fatalf("%d stored: starting at the end read %d events", stored, read)
		}
		// The end the listing gave is the stream's first id.
		if after := a.readListing("after="+page.Last, 10); fmt.Sprint(after) != "[t1/new]" {
			t.Fatalf("%d stored: after the end: %v", stored, after)
		}
		if after := a.readListing("topic=t1&after="+topicPage.Last, 10); fmt.Sprint(after) != "[t1/new]" {
			t.Fatalf("%d stored: after t1's end: %v", stored, after)
		}
	}
}

// TestSlowSubscriberFallsBackToTheStore: a stream that reads nothing while
// far more than the ring is published neither blocks publishing nor holds
// the ring; when it reads again, it gets everything, from the store.
func TestSlowSubscriberFallsBackToTheStore(t *testing.T) {
	a := newApp(t, httpapi.Config{RingEvents: 100})
	slow := a.subscribe("topic=t", "")
	a.publishOK(arr(ev("t", "first", ts)))
	slow.next(1)
	a.publishBig("t") // far past any socket buffer
	got := slow.next(2000)
	if got[0] != "t/0-0:2" || got[1999] != "t/19-99:2001" {
		t.Fatalf("the slow stream got %s … %s", got[0], got[1999])
	}
	if f := a.api.Fanout(); f.FromStore < 1000 {
		t.Fatalf("the slow stream did not read the store: %+v", f)
	}
}

// TestFeedSendsWhatTheStoreHolds: events a live stream gets from the feed
// (taken from the writer, not read back) are field for field what a
// listing reads from the store, received_at and all.
func TestFeedSendsWhatTheStoreHolds(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	live := a.subscribe("from=end", "")
	var events []string
	for i := 0; i < 50; i++ {
		events = append(events, fmt.Sprintf(`{"topic":"t%d","event_id":"e%d","timestamp":"2026-11-24T10:00:0%d.123456Z","source":"s \"%d\"","payload":{ "i" : %d,
			"s": "<%d>" }}`, i%3, i, i%10, i, i, i))
	}
	a.publishOK(arr(events[:20]...))
	a.publishOK(arr(append(events[20:], events[:5]...)...))
	var got []map[string]any
	timer := time.AfterFunc(20*time.Second, live.cancel)
	defer timer.Stop()
	for len(got) < 50 && live.sc.Scan() {
		if data, ok := strings.CutPrefix(live.sc.Text(), "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
	}
	var page struct{ Events []map[string]any }
	a.get("/events?limit=100").decode(t, &page)
	if len(got) != 50 || !reflect.DeepEqual(got, page.Events) {
		t.Fatalf("the stream's %d events differ from the listing's %d:\n%v\n%v", len(got), len(page.Events), got[:min(2, len(got))], page.Events[:min(2, len(page.Events))])
	}
	if f := a.api.Fanout(); f.FromRing != 50 {
		t.Fatalf("not all from the ring: %+v", f)
	}
}
