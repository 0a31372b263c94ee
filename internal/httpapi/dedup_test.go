package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
)

func TestDedup(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	steps := []struct{ name, body, want string }{
		{"first", ev("d", "x", ts), "accepted:1"},
		{"same event again", ev("d", "x", ts), "duplicate:1"},
		{"same id, other payload and time", arr(`{"topic":"d","event_id":"x","timestamp":"2020-01-01T00:00:00Z","source":"other","payload":{"changed":true}}`), "conflict:1"},
		{"same content spelled otherwise, with a clock", `{"payload": { "id" : "x" }, "clock": 7, "topic":"d","event_id":"x","timestamp":"` + ts + `","source":"test"}`, "duplicate:1"},
		{"in-batch repeat", arr(ev("d", "y", ts), ev("d", "y", ts), ev("d", "x", ts)), "accepted:2 duplicate:2 duplicate:1"},
		{"same id in two topics", arr(ev("d2", "x", ts), ev("d3", "x", ts)), "accepted:1 accepted:1"},
	}
	for _, s := range steps {
		if got := a.publishOK(s.body).summary(); got != s.want {
			t.Fatalf("%s: %q, want %q", s.name, got, s.want)
		}
	}
	// A lone conflicting event is a 409 naming the original's seq.
	r := a.publish(`{"topic":"d","event_id":"y","timestamp":"` + ts + `","source":"test","payload":{"id":"not y"}}`)
	var conflict struct {
		Error, Status string
		Seq           int64
	}
	if r.decode(t, &conflict); r.status != http.StatusConflict || conflict.Status != "conflict" || conflict.Seq != 2 || !strings.Contains(conflict.Error, "seq 2") {
		t.Fatalf("single conflicting event: %d %s", r.status, r.body)
	}
	// The original is what stays stored.
	var page eventsPage
	a.get("/events?topic=d").decode(t, &page)
	if len(page.Events) != 2 || string(page.Events[0].Payload) != `{"id":"x"}` || page.Events[0].Source != "test" {
		t.Fatalf("stored %+v", page.Events)
	}

	a.restart(httpapi.Config{})
	if got := a.publishOK(arr(ev("d", "x", ts), ev("d", "z", ts))).summary(); got != "duplicate:1 accepted:3" {
		t.Fatalf("after restart: %q", got)
	}
	a.idle()
	s := a.stats()
	if s.Received != 12 || s.DuplicateDrop != 5 || s.Conflicts != 2 || s.UniqueProcessed != 5 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
	if fmt.Sprint(s.Topics) != "[d d2 d3]" || s.TopicCount != 3 {
		t.Fatalf("topics %v %d", s.Topics, s.TopicCount)
	}
}

// Many publishers send overlapping ids at once, as retrying publishers do:
// each id is stored once, every verdict for it carries the same seq, and the
// seqs are 1..n without a gap.
func TestConcurrentOverlappingPublishers(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	const publishers, batches, batchSize, distinct = 16, 10, 20, 500
	var mu sync.Mutex
	seqOf := map[string]int64{}
	accepted := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var events []string
				var ids []string
				for i := 0; i < batchSize; i++ {
					id := fmt.Sprint((p*31 + b*batchSize + i*7) % distinct)
					ids = append(ids, id)
					events = append(events, ev("c", id, ts))
				}
				r, err := a.srv.Client().Post(a.srv.URL+"/publish", "application/json", strings.NewReader(arr(events...)))
				if err != nil {
					errs <- err
					return
				}
				var res publishResult
				resp := response{status: r.StatusCode}
				resp.body, err = readAll(r)
				if err != nil || r.StatusCode != 200 {
					errs <- fmt.Errorf("status %d %s %v", r.StatusCode, resp.body, err)
					return
				}
				resp.decode(t, &res)
				mu.Lock()
				for i, v := range res.Results {
					if prev, ok := seqOf[ids[i]]; ok && prev != v.Seq {
						errs <- fmt.Errorf("id %s got seq %d and %d", ids[i], prev, v.Seq)
					}
					seqOf[ids[i]] = v.Seq
					if v.Status == "accepted" {
						accepted[ids[i]]++
					}
				}
				mu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id, n := range accepted {
		if n != 1 {
			t.Fatalf("id %s accepted %d times", id, n)
		}
	}
	if len(accepted) != len(seqOf) {
		t.Fatalf("%d ids seen, %d accepted", len(seqOf), len(accepted))
	}
	// The stored listing is exactly seq 1..n, each id once.
	var page eventsPage
	a.get("/events?topic=c&limit=10000").decode(t, &page)
	if len(page.Events) != len(seqOf) {
		t.Fatalf("stored %d events, want %d", len(page.Events), len(seqOf))
	}
	for i, e := range page.Events {
		if e.Seq != int64(i+1) || seqOf[e.EventID] != e.Seq {
			t.Fatalf("event %d: %s has seq %d (verdict said %d)", i, e.EventID, e.Seq, seqOf[e.EventID])
		}
	}
	a.idle()
	s := a.stats()
	total := int64(publishers * batches * batchSize)
	if s.Received != total || s.UniqueProcessed != int64(len(seqOf)) || s.Received != s.UniqueProcessed+s.DuplicateDrop {
		t.Fatalf("stats %+v, sent %d", s, total)
	}
}

// fakeIngester fails every Ingest with err.
type fakeIngester struct{ err error }

func (f fakeIngester) Ingest(context.Context, []eventagg.Event, int) ([]eventagg.Appended, error) {
	return nil, f.err
}

type fakeQueue struct{ saturated bool }

func (q fakeQueue) Queued() int        { return 0 }
func (q fakeQueue) Saturated() bool    { return q.saturated }
func (q fakeQueue) CommitError() error { return nil }

func TestUnavailableAnswers503WithRetryAfter(t *testing.T) {
	for _, err := range []error{
		eventagg.ErrQueueFull,
		eventagg.ErrClosed,
		fmt.Errorf("append: %w", &eventagg.Error{Code: eventagg.EUNAVAILABLE, Message: "store unavailable: disk full"}),
	} {
		a := newApp(t, httpapi.Config{})
		srv := httptest.NewServer(httpapi.New(httpapi.Config{Ingester: fakeIngester{err}, Store: a.st, Queue: fakeQueue{}}).Routes())
		r, e := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(ev("u", "1", ts)))
		if e != nil {
			t.Fatal(e)
		}
		body, _ := readAll(r)
		srv.Close()
		if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || !strings.Contains(string(body), eventagg.ErrorMessage(err)) {
			t.Fatalf("%v: %d Retry-After=%q %s", err, r.StatusCode, r.Header.Get("Retry-After"), body)
		}
	}
}

func TestInternalErrorsAreHidden(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ingester: fakeIngester{errors.New("secret path /var/db: boom")}, Store: a.st, Queue: fakeQueue{}}).Routes())
	defer srv.Close()
	r, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(ev("u", "1", ts)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := readAll(r)
	if r.StatusCode != 500 || strings.Contains(string(body), "secret") {
		t.Fatalf("%d %s", r.StatusCode, body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	if r := a.get("/healthz"); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := a.get("/readyz"); r.status != 200 {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	saturated := httptest.NewServer(httpapi.New(httpapi.Config{Ingester: a.pipe, Store: a.st, Queue: fakeQueue{saturated: true}}).Routes())
	defer saturated.Close()
	r, err := http.Get(saturated.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := readAll(r)
	if r.StatusCode != 503 || !strings.Contains(string(body), "queue") {
		t.Fatalf("saturated readyz %d %s", r.StatusCode, body)
	}
	a.st.Close() // a store that cannot be reached
	if r := a.get("/readyz"); r.status != 503 || !strings.Contains(string(r.body), "store") {
		t.Fatalf("readyz with closed store %d %s", r.status, r.body)
	}
}

func readAll(r *http.Response) ([]byte, error) {
	defer r.Body.Close()
	return io.ReadAll(r.Body)
}
