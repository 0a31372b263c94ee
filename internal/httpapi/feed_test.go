package httpapi

import (
	"bytes"
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
	f.add(1, []eventagg.StoredEvent{stored(11, "a", 1), stored(12, "b", 1), stored(14, "a", 3)}, false) // a's seq 2 (pos 13) not seen

	var buf bytes.Buffer
	all := &live{gen: 1, pos: 10}
	if n, ok := f.collect(all, &buf, 1<<20); n != 3 || !ok || all.pos != 14 {
		t.Fatalf("all topics: %d events, ok %v, pos %d", n, ok, all.pos)
	}
	buf.Reset()
	b := &live{gen: 1, topic: "b", pos: 10}
	if n, ok := f.collect(b, &buf, 1<<20); n != 1 || !ok || b.seq != 1 || !strings.HasPrefix(buf.String(), "id: ") {
		t.Fatalf("topic b: %d events, ok %v, seq %d, %q", n, ok, b.seq, buf.String())
	}
	buf.Reset()
	a := &live{gen: 1, topic: "a", pos: 10}
	if n, ok := f.collect(a, &buf, 1<<20); n != 1 || ok || a.seq != 1 {
		t.Fatalf("topic a, whose seq 2 the ring lacks: %d events, ok %v, seq %d; want seq 1 and then the store", n, ok, a.seq)
	}

	// Two more events drop the oldest (the ring holds 4): a stream at
	// position 10 has lost position 11; one at 11 has lost nothing.
	f.add(1, []eventagg.StoredEvent{stored(15, "b", 2), stored(16, "b", 3)}, false)
	if _, ok := f.collect(&live{gen: 1, pos: 10}, &buf, 1<<20); ok {
		t.Fatal("a stream behind the ring was served from it")
	}
	if _, ok := f.collect(&live{gen: 1, pos: 11}, &buf, 1<<20); !ok {
		t.Fatal("a stream at the ring's start was sent to the store")
	}
	if _, ok := f.collect(&live{gen: 0, pos: 15}, &buf, 1<<20); ok {
		t.Fatal("a stream of an earlier run of the feed was served")
	}
}
