package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/httpapi"
)

// readAll pages through a listing and returns "topic/id" in order.
func (a *app) readListing(query string, limit int) []string {
	a.t.Helper()
	var out []string
	after := ""
	for i := 0; i < 1000; i++ {
		var page eventsPage
		r := a.get(fmt.Sprintf("/events?%s&limit=%d&after=%s", query, limit, url.QueryEscape(after)))
		if r.status != 200 {
			a.t.Fatalf("events: %d %s", r.status, r.body)
		}
		r.decode(a.t, &page)
		if len(page.Events) > limit {
			a.t.Fatalf("page of %d, limit %d", len(page.Events), limit)
		}
		for _, e := range page.Events {
			out = append(out, e.Topic+"/"+e.EventID)
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
	a.t.Fatal("paging never ends")
	return nil
}

func TestEventsOrdersAndPaging(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	// Arrival order e0..e5; e1, e3 and e4 are late (older timestamps).
	a.publishOK(arr(ev("o", "e0", "2026-11-24T10:00:50Z"), ev("o", "e1", "2026-11-24T10:00:10Z"), ev("x", "e0", ts)))
	a.publishOK(arr(ev("o", "e2", "2026-11-24T10:00:40Z"), ev("o", "e3", "2026-11-24T10:00:10Z")))
	a.publishOK(arr(ev("o", "e4", "2026-11-24T09:00:00Z"), ev("o", "e5", "2026-11-24T10:01:00Z")))
	arrival := "[o/e0 o/e1 o/e2 o/e3 o/e4 o/e5]"
	byTime := "[o/e4 o/e1 o/e3 o/e2 o/e0 o/e5]"
	for _, limit := range []int{1, 2, 4, 6, 10} {
		if got := fmt.Sprint(a.readListing("topic=o", limit)); got != arrival {
			t.Errorf("arrival, limit %d: %s", limit, got)
		}
		if got := fmt.Sprint(a.readListing("topic=o&order=arrival", limit)); got != arrival {
			t.Errorf("order=arrival, limit %d: %s", limit, got)
		}
		if got := fmt.Sprint(a.readListing("topic=o&order=time", limit)); got != byTime {
			t.Errorf("order=time, limit %d: %s", limit, got)
		}
	}
	if got := fmt.Sprint(a.readListing("", 3)); got != "[o/e0 o/e1 x/e0 o/e2 o/e3 o/e4 o/e5]" {
		t.Errorf("all topics: %s", got)
	}
	// The full page says there is a next one only while there is.
	var page eventsPage
	a.get("/events?topic=o&limit=6").decode(t, &page)
	if page.Next != "" || page.Last == "" {
		t.Fatalf("exact last page: next=%q last=%q", page.Next, page.Last)
	}
	// Tailing from Last sees what arrives later, even a late event.
	a.publishOK(ev("o", "e6", "2000-01-01T00:00:00Z"))
	var tail eventsPage
	a.get("/events?topic=o&after="+page.Last).decode(t, &tail)
	if len(tail.Events) != 1 || tail.Events[0].EventID != "e6" || tail.Events[0].Seq != 7 {
		t.Fatalf("tail %+v", tail.Events)
	}
	if r := a.get("/events?topic=unknown"); r.status != 200 || !strings.Contains(string(r.body), `"events":[]`) {
		t.Fatalf("unknown topic: %d %s", r.status, r.body)
	}
}

func TestEventsBadParameters(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	a.publishOK(arr(ev("p", "1", ts), ev("p", "2", ts)))
	var page eventsPage
	a.get("/events?topic=p&order=time&limit=1").decode(t, &page)
	timeCursor := page.Next
	cases := map[string]string{
		"/events?order=random":                              "order: must be arrival, time or causal",
		"/events?order=time":                                "order: time order needs a topic",
		"/events?topic=p&limit=-1":                          "limit: must be a whole number from 0 to 10000",
		"/events?topic=p&limit=10001":                       "limit: must be a whole number from 0 to 10000",
		"/events?from=now":                                  "from: must be start or end",
		"/events?topic=p&from=end&after=MTp0OmFycml2YWw6Mw": "from: end and after cannot be combined",
		"/events?topic=p&order=time&from=end":               "from: end needs arrival order",
		"/events?topic=p&limit=ten":                         "limit:",
		"/events?topic=p&after=garbage":                     "after: not a cursor",
		"/events?topic=p&after=" + timeCursor:               "after: cursor belongs to order=time",
		"/events?topic=p&order=time&after=" + "MTp0Og":      "after: not a cursor",
		"/events?topic=bad%20topic":                         "topic: character",
		"/events?topic=":                                    "topic: required",
	}
	for path, prefix := range cases {
		r := a.get(path)
		if r.status != 400 {
			t.Errorf("%s: %d %s", path, r.status, r.body)
			continue
		}
		if msg := r.errorText(t); !strings.HasPrefix(msg, prefix) {
			t.Errorf("%s: %q, want prefix %q", path, msg, prefix)
		}
	}
	if r := a.get("/events?topic=p&limit=10000"); r.status != 200 {
		t.Fatalf("limit=10000: %d", r.status)
	}
}

func TestStatsShape(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	a.publishOK(arr(ev("s", "1", ts), ev("s", "1", ts), ev("s", "2", "bad")))
	a.idle()
	s := a.stats()
	if s.Received != 2 || s.UniqueProcessed != 1 || s.DuplicateDrop != 1 || s.Rejected != 1 || s.Pending != 0 {
		t.Fatalf("counters %+v", s)
	}
	if s.UptimeSeconds == nil || s.Uptime == nil || *s.Uptime != *s.UptimeSeconds || s.StartedAt == "" {
		t.Fatalf("uptime fields %+v", s)
	}
	if s.Throughput == nil || *s.Throughput <= 0 || s.Latency == nil || s.Latency.P99 < s.Latency.P50 || s.Latency.P50 <= 0 {
		t.Fatalf("throughput/latency %+v %+v", s.Throughput, s.Latency)
	}
}
