package httpapi

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
)

func stored(pos int64, topic string, seq int64) eventagg.StoredEvent {
	return eventagg.StoredEvent{Event: eventagg.Event{Topic: topic, EventID: "e", Payload: []byte(`{}`)}, Seq: seq, Position: pos}
}

// The ring serves a stream only while it holds everything the stream has
// not seen: a one-topic stream whose next event is missing from the ring
// (on PostgreSQL another replica's commit can land below the feed's
// position), or one whose position was dropped, goes back to the store.
func TestFeedCollectKnowsWhatItLacks(t *testing.T) {
	f := newFeed(nil, nil, 0, 4, 1<<20, nil)
	f.gen = 1
	f.add(&slab{}, 1, []eventagg.StoredEvent{stored(11, "a", 1), stored(12, "b", 1), stored(14, "a", 3)}, false) // a's seq 2 (pos 13) not seen

	var out batch
	all := &live{gen: 1, pos: 10}
	if n, ok := f.collect(all, &out, 1<<20); n != 3 || !ok || all.pos != 14 {
		t.Fatalf("all topics: %d events, ok %v, pos %d", n, ok, all.pos)
	}
	out.reset()
	b := &live{gen: 1, topic: "b", pos: 10}
	if n, ok := f.collect(b, &out, 1<<20); n != 1 || !ok || b.seq != 1 || !strings.HasPrefix(out.buf.String(), "id: ") {
		t.Fatalf("topic b: %d events, ok %v, seq %d, %q", n, ok, b.seq, out.buf.String())
	}
	out.reset()
	a := &live{gen: 1, topic: "a", pos: 10}
	if n, ok := f.collect(a, &out, 1<<20); n != 1 || ok || a.seq != 1 {
		t.Fatalf("topic a, whose seq 2 the ring lacks: %d events, ok %v, seq %d; want seq 1 and then the store", n, ok, a.seq)
	}

	// Two more events drop the oldest (the ring holds 4): a stream at
	// position 10 has lost position 11; one at 11 has lost nothing.
	f.add(&slab{}, 1, []eventagg.StoredEvent{stored(15, "b", 2), stored(16, "b", 3)}, false)
	if _, ok := f.collect(&live{gen: 1, pos: 10}, &out, 1<<20); ok {
		t.Fatal("a stream behind the ring was served from it")
	}
	if _, ok := f.collect(&live{gen: 1, pos: 11}, &out, 1<<20); !ok {
		t.Fatal("a stream at the ring's start was sent to the store")
	}
	if _, ok := f.collect(&live{gen: 0, pos: 15}, &out, 1<<20); ok {
		t.Fatal("a stream of an earlier run of the feed was served")
	}
}

// A stream of all topics writes the slab's frames as runs without copying
// them: what it writes is exactly each event's frame, in order, across
// chunk boundaries and events the ring dropped as already seen, in few
// runs; scoped and one-topic streams, which copy, write the same frames.
func TestFeedRunsAreTheFrames(t *testing.T) {
	f := newFeed(nil, nil, 0, 1<<20, 1<<30, nil)
	f.gen = 1
	sl := &slab{}
	var events []eventagg.StoredEvent
	seqs := map[string]int64{}
	for pos := int64(1); pos <= 3000; pos++ {
		topic := []string{"a", "b", "c"}[pos%3]
		seqs[topic]++
		e := stored(pos, topic, seqs[topic])
		e.Payload = []byte(`{"pad":"` + strings.Repeat("x", int(pos%200)) + `"}`)
		events = append(events, e)
	}
	// Added in groups that overlap, as a push and a store read can: the
	// repeated events make frames in the slab that the ring never holds.
	for i := 0; i < len(events); i += 100 {
		f.add(sl, 1, events[max(i-7, 0):min(i+100, len(events))], false)
	}
	want := map[string]string{} // by stream
	for _, e := range events {
		data := e.AppendJSON(nil)
		frame := "id: " + eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: e.Position}.String() + "\ndata: " + string(data) + "\n\n"
		want["all"] += frame
		if e.Topic != "c" {
			want["a and b"] += frame
		}
		if e.Topic == "b" {
			want["b"] += "id: " + eventagg.Cursor{Order: eventagg.ByArrival, Pos: e.Seq}.String() + "\ndata: " + string(data) + "\n\n"
		}
	}
	for name, l := range map[string]*live{"all": {gen: 1}, "a and b": {gen: 1, scope: Scope{"a", "b"}}, "b": {gen: 1, topic: "b"}} {
		var out batch
		var got strings.Builder
		writes, runs := 0, 0
		for {
			n, ok := f.collect(l, &out, 64<<10)
			if !ok {
				t.Fatalf("%s: the ring could not serve the stream", name)
			}
			if n == 0 {
				break
			}
			runs += len(out.runs)
			writes++
			if err := out.writeTo(&got); err != nil {
				t.Fatal(err)
			}
		}
		if got.String() != want[name] {
			t.Fatalf("%s: wrote %d bytes that differ from the %d of its frames", name, got.Len(), len(want[name]))
		}
		// Runs: one per chunk a write spans, plus one per overlap of the
		// groups (the dropped frames split a run).
		if name == "all" && runs > writes+2*len(want[name])/slabChunk+30 {
			t.Fatalf("all: %d runs in %d writes of %d bytes", runs, writes, got.Len())
		}
		if name != "all" && runs != 0 {
			t.Fatalf("%s: a stream that must copy wrote %d runs", name, runs)
		}
	}
}

// One-topic streams walk their topic's entries (entry.prev and next)
// instead of scanning the ring. Across many topics, a small ring that
// drops and compacts as it goes, writes that stop a walk midway, and
// streams that join at any point, each stream must get exactly what a scan
// of the events would give it: its topic's events from where it joined, in
// order, each once.
func TestFeedTopicStreamsSeeWhatAScanSees(t *testing.T) {
	const topics, events, ring = 37, 5000, 64
	f := newFeed(nil, nil, 0, ring, 1<<30, nil)
	f.gen = 1
	sl := &slab{}
	rng := rand.New(rand.NewPCG(7, 7))
	var all []eventagg.StoredEvent
	seqs := map[string]int64{}
	type follower struct {
		l    *live
		from int64    // the seq it joined after
		ids  []string // the SSE ids it was sent
	}
	var streams []*follower
	for pos := int64(1); pos <= events; {
		// A group of 1 to 20 events; some topics far more common than others.
		var group []eventagg.StoredEvent
		for n := 1 + rng.IntN(20); n > 0 && pos <= events; n-- {
			topic := fmt.Sprint("t", min(rng.IntN(topics), rng.IntN(topics)))
			seqs[topic]++
			group = append(group, stored(pos, topic, seqs[topic]))
			pos++
		}
		f.add(sl, 1, group, false)
		all = append(all, group...)
		if rng.IntN(4) == 0 { // a stream joins at the end, as a caught-up one does
			topic := fmt.Sprint("t", rng.IntN(topics))
			streams = append(streams, &follower{l: &live{gen: 1, topic: topic, pos: f.mark(), seq: seqs[topic]}, from: seqs[topic]})
		}
		for _, s := range streams {
			for {
				var out batch
				n, ok := f.collect(s.l, &out, 1<<(6+rng.IntN(8)))
				if !ok {
					t.Fatalf("stream of %s: the ring could not serve it", s.l.topic)
				}
				if n == 0 {
					break
				}
				for _, line := range strings.Split(out.buf.String(), "\n") {
					if id, ok := strings.CutPrefix(line, "id: "); ok {
						s.ids = append(s.ids, id)
					}
				}
			}
		}
	}
	if f.base == 0 {
		t.Fatal("the ring never compacted: the test does not cover it")
	}
	for _, s := range streams {
		var want []string
		for _, e := range all {
			if e.Topic == s.l.topic && e.Seq > s.from {
				want = append(want, eventagg.Cursor{Order: eventagg.ByArrival, Pos: e.Seq}.String())
			}
		}
		if !slices.Equal(s.ids, want) {
			t.Fatalf("stream of %s from seq %d: sent %v, want %v", s.l.topic, s.from, s.ids, want)
		}
	}
}

// A one-topic stream is woken by its own topic only, and while that topic
// is quiet the ring may turn over past the stream's position: its next
// event still comes from the ring (the seq shows nothing was missed), and
// its lag counts its own topic's events.
func TestFeedQuietTopicStaysOnTheRing(t *testing.T) {
	f := newFeed(nil, nil, 0, 8, 1<<20, nil)
	f.gen = 1
	sl := &slab{}
	f.add(sl, 1, []eventagg.StoredEvent{stored(1, "quiet", 1)}, false)
	l := &live{gen: 1, topic: "quiet", pos: 0}
	var out batch
	if n, ok := f.collect(l, &out, 1<<20); n != 1 || !ok {
		t.Fatalf("first event: %d, ok %v", n, ok)
	}
	quiet, all := f.waiter("quiet"), f.waiter("")
	var busy []eventagg.StoredEvent
	for pos := int64(2); pos <= 20; pos++ { // the ring holds 8: pos 1 is long gone
		busy = append(busy, stored(pos, "busy", pos-1))
	}
	f.add(sl, 1, busy, false)
	if closed(quiet) {
		t.Fatal("another topic's events woke a one-topic stream")
	}
	if !closed(all) {
		t.Fatal("events did not wake the all-topics streams")
	}
	if got := f.lag("quiet", l.pos, l.seq); got != 0 {
		t.Fatalf("lag of a stream with all its topic's events: %d", got)
	}
	f.add(sl, 1, []eventagg.StoredEvent{stored(21, "quiet", 2)}, false)
	if !closed(quiet) {
		t.Fatal("its topic's event did not wake the stream")
	}
	if got := f.lag("quiet", l.pos, l.seq); got != 1 {
		t.Fatalf("lag of a stream one event of its topic behind: %d, want 1", got)
	}
	out.reset()
	if n, ok := f.collect(l, &out, 1<<20); n != 1 || !ok || l.seq != 2 {
		t.Fatalf("after the ring turned over: %d events, ok %v, seq %d; want the ring to serve seq 2", n, ok, l.seq)
	}
}

// Streams of topics that never see an event leave their wake-ups behind;
// the feed holds a bounded number, waking the oldest for nothing past it.
func TestFeedWakeupsStayBounded(t *testing.T) {
	f := newFeed(nil, nil, 0, 8, 1<<20, nil)
	first := f.waiter("t0")
	for i := 1; i <= feedWoken; i++ {
		f.waiter(fmt.Sprint("t", i))
	}
	if len(f.woken) > feedWoken {
		t.Fatalf("%d wake-ups held, bound %d", len(f.woken), feedWoken)
	}
	if !closed(first) {
		t.Fatal("a wake-up forgotten past the bound was not closed: its stream would sleep through its topic's events")
	}
}

// closed reports whether a wake-up has fired.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
