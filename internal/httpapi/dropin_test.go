package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/httpapi"
)

// The conventions of the FastAPI aggregators eventagg replaces, so that
// their publishers and checks work with a URL change.

func TestHealthInFastAPIShape(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	var h struct{ Status, Database, Timestamp, Error string }
	r := a.get("/health")
	r.decode(t, &h)
	if ts, err := time.Parse(time.RFC3339, h.Timestamp); r.status != 200 || h.Status != "healthy" || h.Database != "ok" ||
		err != nil || ts.Location() != time.UTC {
		t.Fatalf("/health: %d %s", r.status, r.body)
	}
	a.st.Close() // the store stops answering
	r = a.get("/health")
	h = struct{ Status, Database, Timestamp, Error string }{}
	r.decode(t, &h)
	if r.status != 503 || h.Status != "unhealthy" || h.Database == "ok" || h.Error == "" || r.header.Get("Retry-After") == "" {
		t.Fatalf("/health with the store closed: %d %s", r.status, r.body)
	}
}

// TestPublishBatchRoute: POST /publish/batch takes every body form
// /publish takes and answers the same.
func TestPublishBatchRoute(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	for i, c := range []struct{ ct, body string }{
		{"application/json", arr(ev("b", "1", ts), ev("b", "2", ts))},
		{"application/json", `{"events":` + arr(ev("b", "3", ts)) + `}`},
		{"application/json", ev("b", "4", ts)},
		{"application/x-ndjson", ev("b", "5", ts) + "\n" + ev("b", "1", ts) + "\n"},
	} {
		var via [2]string
		for k, path := range []string{"/publish/batch", "/publish"} {
			r := a.do("POST", path, c.ct, []byte(c.body))
			var res publishResult
			r.decode(t, &res)
			if r.status != 200 {
				t.Fatalf("form %d via %s: %d %s", i, path, r.status, r.body)
			}
			// The second time everything is a duplicate of the first.
			via[k] = fmt.Sprint(res.Accepted+res.Duplicates, len(res.Results))
		}
		if via[0] != via[1] {
			t.Errorf("form %d: /publish/batch answered %s, /publish %s", i, via[0], via[1])
		}
	}
}

func TestEventsEnvelopeOfOneEvent(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	res := a.publishOK(`{"events":` + ev("one", "1", ts) + `}`)
	if res.Accepted != 1 || len(res.Results) != 1 || res.Results[0].Seq != 1 {
		t.Fatalf("{\"events\": {…}}: %+v", res)
	}
	if r := a.publish(`{"events":"x"}`); r.status != 400 || !strings.Contains(r.errorText(t), "events:") {
		t.Fatalf(`{"events":"x"}: %d %s`, r.status, r.body)
	}
}

// TestUnprocessableSingleEvent: a lone event that parses but breaks a rule
// is 422 naming the field; malformed JSON stays 400 with its position; in
// a batch the same event is a per-event verdict in a 200.
func TestUnprocessableSingleEvent(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	for body, want := range map[string]string{
		ev("u", "1", "yesterday"): "422 timestamp",
		`{"topic":"u","event_id":"2","timestamp":"` + ts + `","source":"s","payload":[]}`: "422 payload",
		`{"topic":5}`:   "422 topic",
		`{"topic":"u",`: "400 body",
	} {
		r := a.publish(body)
		if got := fmt.Sprintf("%d %s", r.status, r.errorText(t)); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %s, want %s…", body, got, want)
		}
	}
	res := a.publishOK(arr(ev("u", "3", "yesterday"), ev("u", "4", ts)))
	if res.Rejected != 1 || res.Accepted != 1 {
		t.Fatalf("batch: %+v", res)
	}
}

func TestPublishAnswerCountsReceived(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	var res struct{ Received, Accepted, Duplicates, Rejected int }
	a.publish(arr(ev("r", "1", ts), ev("r", "1", ts), ev("r", "2", "bad"))).decode(t, &res)
	if res.Received != 3 || res.Accepted != 1 || res.Duplicates != 1 || res.Rejected != 1 {
		t.Fatalf("answer %+v, want received 3 = 1 accepted + 1 duplicate + 1 rejected", res)
	}
}

func TestEventsPageCount(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	a.publishOK(arr(ev("c", "1", ts), ev("c", "2", ts), ev("c", "3", ts)))
	var page struct {
		Count int    `json:"count"`
		Next  string `json:"next"`
	}
	a.get("/events?topic=c&limit=2").decode(t, &page)
	if page.Count != 2 || page.Next == "" {
		t.Fatalf("first page: %+v", page)
	}
	a.get("/events?topic=c&after="+page.Next).decode(t, &page)
	if page.Count != 1 {
		t.Fatalf("second page: %+v", page)
	}
}

// TestStatsReadsItsWrites: "publish, then check /stats", the first thing
// every user does, sees the events processed, round after round. Without
// the wait, the consumer's pace (it runs at most every 20 ms after it
// caught up) makes /stats lag the publish that just answered.
func TestStatsReadsItsWrites(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	for round := 1; round <= 20; round++ {
		a.publishOK(arr(ev("ryw", fmt.Sprint(round), ts), ev("ryw", fmt.Sprint(round), ts)))
		st := a.stats()
		if st.UniqueProcessed != int64(round) || st.DuplicateDrop != int64(round) || st.Received != int64(2*round) || st.Pending != 0 {
			t.Fatalf("round %d: /stats right after the publish: %+v", round, st)
		}
	}
}
