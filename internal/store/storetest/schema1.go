package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// CheckSchema1 checks a store opened on a database that the code of schema
// version 1 wrote (each store keeps one in its testdata, made by that
// version's store: 300 events e0…e299 over 40 topics in three groups of 100,
// every seventh of a group sent twice, 0, 1 and 2 rejects, and only the
// first group processed) and has just migrated: every event reads back with
// its seq, the counters and each topic's counters are right, the pending
// events are processed once, new events continue each topic's seq, and
// every stored event sent again is a duplicate of its seq, and with other
// content a conflict (the migration to schema 4 gave old events digests).
func CheckSchema1(t *testing.T, s eventagg.Store) {
	t.Helper()
	ctx := context.Background()
	// What the generator wrote, rebuilt here.
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	type want struct {
		id      string
		seq     int64
		ts      time.Time
		payload string
	}
	perTopic := map[string][]want{}
	var order []string // event ids in commit order
	dups := map[string]int64{}
	processed := map[string]int64{}
	for n := 0; n < 300; n++ {
		k := n % 100
		topic := fmt.Sprintf("t%02d", k%40)
		perTopic[topic] = append(perTopic[topic], want{fmt.Sprintf("e%d", n), int64(len(perTopic[topic]) + 1),
			base.Add(time.Duration(1000-n) * time.Second), fmt.Sprintf(`{"id":"e%d","n":%d}`, n, 1000-n)})
		order = append(order, fmt.Sprintf("e%d", n))
		if k%7 == 0 {
			dups[topic]++
		}
		if n < 100 {
			processed[topic]++
		}
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != 345 || st.Stored != 300 || st.Duplicates != 45 || st.Rejected != 3 || st.Processed != 100 || st.TopicCount != 40 {
		t.Fatalf("stats after migration = %+v", st)
	}
	for topic, events := range perTopic {
		page, err := s.Events(ctx, eventagg.EventQuery{Topic: topic, Order: eventagg.ByArrival, Limit: 100})
		if err != nil || len(page.Events) != len(events) {
			t.Fatalf("%s: %d events, %v; want %d", topic, len(page.Events), err, len(events))
		}
		for i, e := range page.Events {
			w := events[i]
			if e.EventID != w.id || e.Seq != w.seq || !e.Timestamp.Equal(w.ts) || string(e.Payload) != w.payload || e.Source != "v1" {
				t.Fatalf("%s event %d = %+v, want %+v", topic, i, e, w)
			}
		}
		ts, err := s.Topic(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		n := int64(len(events))
		if ts.LastSeq != n || ts.Duplicates != dups[topic] || ts.Received != n+dups[topic] || ts.Processed != processed[topic] ||
			!ts.FirstTime.Equal(events[n-1].ts) || !ts.LastTime.Equal(events[0].ts) {
			t.Fatalf("topic %s = %+v", topic, ts)
		}
	}
	page, err := s.Events(ctx, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 1000})
	if err != nil || len(page.Events) != len(order) {
		t.Fatalf("all topics: %d events, %v", len(page.Events), err)
	}
	for i, e := range page.Events {
		if e.EventID != order[i] {
			t.Fatalf("all topics, event %d = %s, want %s", i, e.EventID, order[i])
		}
	}

	// The pending groups are processed once, and new events continue each
	// topic's seq.
	total := drain(t, s, 64)
	out, err := s.Append(ctx, []eventagg.Event{{Topic: "t05", EventID: "new", Timestamp: base, Source: "v2", Payload: []byte(`{}`)},
		{Topic: "t05", EventID: "e5", Timestamp: base, Source: "v2", Payload: []byte(`{}`)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// e5 sent again with other content conflicts: the migration gave the
	// old events their digests.
	if total != 200 || verdictOf(out[0]) != acc(int64(len(perTopic["t05"]))+1) || verdictOf(out[1]) != cnf(1) {
		t.Fatalf("processed %d pending (want 200); append after migration = %+v", total, out)
	}
	// Every stored key survived the migration, and with it the digest of
	// its content (sent here spelled another way).
	var again []eventagg.Event
	for topic, events := range perTopic {
		for _, w := range events {
			respelled := strings.ReplaceAll(strings.ReplaceAll(w.payload, ",", " , "), ":", ": ")
			again = append(again, eventagg.Event{Topic: topic, EventID: w.id, Timestamp: w.ts, Source: "v1", Payload: []byte(respelled)})
		}
	}
	out, err = s.Append(ctx, again, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range out {
		e := again[i]
		if w := perTopic[e.Topic][a.Seq-1]; !a.Duplicate || a.Conflict || w.id != e.EventID {
			t.Fatalf("%s/%s sent again after migration: %+v", e.Topic, e.EventID, a)
		}
	}
	// And with other content, each is a conflict: every old event has its
	// digest, wherever its key lives.
	for i := range again {
		again[i].Payload = []byte(`{"changed":true}`)
	}
	if out, err = s.Append(ctx, again, 0); err != nil {
		t.Fatal(err)
	}
	for i, a := range out {
		if !a.Conflict {
			t.Fatalf("%s/%s sent with other content after migration: %+v, want a conflict", again[i].Topic, again[i].EventID, a)
		}
	}
	// New events after the old ones, in order and late by time and by
	// clock, list with them in time and causal order, and the topic's
	// first and last time cover both.
	old := perTopic["t07"]
	newer := []eventagg.Event{
		{Topic: "t07", EventID: "after", Timestamp: old[0].ts.Add(time.Hour), Clock: 5, HasClock: true},
		{Topic: "t07", EventID: "between", Timestamp: old[len(old)-1].ts.Add(time.Second), Clock: 2, HasClock: true},
		{Topic: "t07", EventID: "earliest", Timestamp: old[len(old)-1].ts.Add(-time.Hour)},
		{Topic: "t07", EventID: "last", Timestamp: old[0].ts.Add(2 * time.Hour), Clock: 9, HasClock: true},
	}
	for i := range newer {
		newer[i].Source, newer[i].Payload = "v5", []byte(`{}`)
	}
	if _, err := s.Append(ctx, newer, 0); err != nil {
		t.Fatal(err)
	}
	for _, order := range []eventagg.Order{eventagg.ByTime, eventagg.ByCausal} {
		for _, limit := range []int{1, 2, 100} {
			checkOrderFrom(t, s, eventagg.EventQuery{Topic: "t07", Order: order, Limit: limit})
		}
	}
	if ts, err := s.Topic(ctx, "t07"); err != nil || !ts.FirstTime.Equal(newer[2].Timestamp) || !ts.LastTime.Equal(newer[3].Timestamp) {
		t.Fatalf("t07 after new events: %+v %v", ts, err)
	}
}
