package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventagg/eventagg/client"
	"github.com/eventagg/eventagg/internal/httpapi"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/sqlite"
)

// server runs the real service in-process and returns its handler and a
// function listing the stored event ids of a topic.
func server(t *testing.T) (http.Handler, func(topic string) []string) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.Start(st, pipeline.Config{}, nil)
	t.Cleanup(func() { p.Close(context.Background()); st.Close() })
	h := httpapi.New(httpapi.Config{Ingester: p, Store: st, Queue: p}).Routes()
	list := func(topic string) []string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/events?limit=10000&topic="+topic, nil))
		var ids []string
		for _, part := range strings.Split(rec.Body.String(), `"event_id":"`)[1:] {
			ids = append(ids, part[:strings.IndexByte(part, '"')])
		}
		return ids
	}
	return h, list
}

// fakeClock records every wait and returns at once, advancing its time.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func ev(topic, id string) client.Event {
	return client.Event{Topic: topic, EventID: id, Timestamp: client.Time(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)),
		Source: "client-test", Payload: []byte(`{"id":"` + id + `"}`)}
}

func TestPublishAgainstRealServer(t *testing.T) {
	h, list := server(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := client.New(srv.URL)
	res, err := c.Publish(context.Background(), ev("t", "1"), ev("t", "1"), client.Event{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Received != 3 || res.Accepted != 1 || res.Duplicates != 1 || res.Rejected != 1 || res.Results[1].Seq != 1 ||
		!strings.HasPrefix(res.Results[2].Error, "event_id: required") || res.Retries != 0 {
		t.Fatalf("%+v", res)
	}
	if ids := list("t"); fmt.Sprint(ids) != "[1]" {
		t.Fatalf("stored %v", ids)
	}
}

func TestRefusalsAreNotRetried(t *testing.T) {
	h, _ := server(t)
	srv, hits := countingServer(t, h)
	clock := &fakeClock{now: time.Unix(0, 0)}
	c := client.New(srv.URL, client.WithTimeSource(clock))
	_, err := c.Publish(context.Background(), client.Event{Topic: "bad topic"})
	var e *client.Error
	// A one-event batch is still a batch: the server rejects per event, 200.
	if err != nil {
		t.Fatalf("per-event rejection came back as %v", err)
	}
	big := client.Event{Topic: "t", EventID: "x", Timestamp: "2026-11-24T10:00:00Z", Source: "s",
		Payload: []byte(`{"x":"` + strings.Repeat("a", 17<<20) + `"}`)}
	_, err = c.Publish(context.Background(), big)
	if !errors.As(err, &e) || e.Status != 413 || e.Code != "too_large" || !strings.Contains(e.Message, "body: larger than the limit") {
		t.Fatalf("oversized body: %v", err)
	}
	if hits.Load() != 2 || len(clock.recorded()) != 0 {
		t.Fatalf("%d requests, waits %v: a refusal was retried", hits.Load(), clock.recorded())
	}
}

// faultServer sits in front of the real service. Per request, in order, it
// applies the next fault of its script: "drop-after" forwards the request
// (so the events are stored) and then kills the connection before the
// answer; "slow" stores and then answers only after the client timed out;
// "503" answers 503 with Retry-After: 3; "ok" forwards normally.
type faultServer struct {
	h      http.Handler
	mu     sync.Mutex
	script []string
	seen   []string
}

func (f *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fault := "ok"
	if len(f.script) > 0 {
		fault, f.script = f.script[0], f.script[1:]
	}
	f.seen = append(f.seen, fault)
	f.mu.Unlock()
	switch fault {
	case "503":
		w.Header().Set("Retry-After", "3")
		http.Error(w, `{"error":"ingest queue is full, retry later"}`, http.StatusServiceUnavailable)
	case "slow":
		// Store the events, then answer too late for the client's timeout.
		f.h.ServeHTTP(httptest.NewRecorder(), r)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case "drop-after":
		f.h.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		f.h.ServeHTTP(w, r)
	}
}

func TestRetriesUntilStoredExactlyOnce(t *testing.T) {
	h, list := server(t)
	f := &faultServer{h: h, script: []string{"drop-after", "503", "drop-after", "ok", "503", "ok"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	clock := &fakeClock{now: time.Unix(0, 0)}
	c := client.New(srv.URL, client.WithTimeSource(clock),
		client.WithRetry(client.Retry{Base: 100 * time.Millisecond, Max: time.Second, MaxElapsed: time.Minute}))

	res, err := c.Publish(context.Background(), ev("r", "a"), ev("r", "b"))
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt stored both; the answer was lost; the retry that got
	// through sees duplicates of the originals.
	if res.Retries != 3 || res.Duplicates != 2 || res.Results[0].Seq != 1 || res.Results[1].Seq != 2 {
		t.Fatalf("%+v", res)
	}
	res, err = c.Publish(context.Background(), ev("r", "b"), ev("r", "c"))
	if err != nil || res.Retries != 1 || res.Accepted != 1 || res.Duplicates != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if ids := list("r"); fmt.Sprint(ids) != "[a b c]" {
		t.Fatalf("stored %v, want each once", ids)
	}
	waits := clock.recorded()
	if len(waits) != 4 {
		t.Fatalf("waits %v", waits)
	}
	// Retry-After 3 s is honoured; the other waits stay within full jitter.
	bounds := []time.Duration{100 * time.Millisecond, -1, 400 * time.Millisecond, -1}
	for i, w := range waits {
		if bounds[i] < 0 {
			if w < 3*time.Second {
				t.Errorf("wait %d = %v, below Retry-After 3s", i, w)
			}
		} else if w < 0 || w > bounds[i] {
			t.Errorf("wait %d = %v, outside [0, %v]", i, w, bounds[i])
		}
	}
}

func TestBackoffDoublesUpToMaxAndGivesUp(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, `{"error":"down"}`, http.StatusBadGateway)
	}))
	defer srv.Close()
	clock := &fakeClock{now: time.Unix(0, 0)}
	c := client.New(srv.URL, client.WithTimeSource(clock),
		client.WithJitter(func(max time.Duration) time.Duration { return max }), // the ceiling itself
		client.WithRetry(client.Retry{Base: 100 * time.Millisecond, Max: time.Second, MaxElapsed: 5 * time.Second}))
	_, err := c.Publish(context.Background(), ev("x", "1"))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 502 || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("err %v", err)
	}
	want := "[100ms 200ms 400ms 800ms 1s 1s 1s]" // 4.5 s in all; the next 1 s would pass 5 s
	if got := fmt.Sprint(clock.recorded()); got != want {
		t.Fatalf("waits %s, want %s", got, want)
	}
	if hits.Load() != 8 {
		t.Fatalf("%d attempts, want 8", hits.Load())
	}
}

func TestNetworkErrorsAreRetriedUntilContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now: connection refused
	ctx, cancel := context.WithCancel(context.Background())
	clock := &fakeClock{now: time.Unix(0, 0)}
	var attempts int
	c := client.New(url, client.WithTimeSource(clock), client.WithJitter(func(max time.Duration) time.Duration {
		attempts++
		if attempts == 3 {
			cancel()
		}
		return max
	}))
	_, err := c.Publish(ctx, ev("x", "1"))
	if !errors.Is(err, context.Canceled) || attempts != 3 {
		t.Fatalf("err %v after %d attempts", err, attempts)
	}
}

// countingServer serves h and counts the requests it gets.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestPublisherBatchesAndDeliversOnClose(t *testing.T) {
	h, list := server(t)
	srv, requests := countingServer(t, h)
	p := client.New(srv.URL).NewPublisher(client.Batching{MaxEvents: 3, Interval: -1})
	for i := 0; i < 7; i++ {
		if err := p.Add(context.Background(), ev("p", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if requests.Load() != 2 {
		t.Fatalf("%d requests after 7 adds of batches of 3", requests.Load())
	}
	p.Add(context.Background(), client.Event{Topic: "p", EventID: "bad"})
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	tot := p.Totals()
	if requests.Load() != 3 || tot.Accepted != 7 || tot.Rejected != 1 || tot.Requests != 3 ||
		len(tot.FirstErrors) != 1 || !strings.HasPrefix(tot.FirstErrors[0], "7: timestamp: required") {
		t.Fatalf("requests %d totals %+v", requests.Load(), tot)
	}
	if ids := list("p"); len(ids) != 7 {
		t.Fatalf("stored %v", ids)
	}
}

func TestPublisherFlushesBySize(t *testing.T) {
	h, _ := server(t)
	srv, requests := countingServer(t, h)
	p := client.New(srv.URL).NewPublisher(client.Batching{MaxEvents: 1000, MaxBytes: 1000, Interval: -1})
	for i := 0; i < 20; i++ { // each event encodes to about 150 bytes
		if err := p.Add(context.Background(), ev("s", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := requests.Load(); n < 2 || n > 4 {
		t.Fatalf("%d requests for ~3000 bytes in batches of at most 1000", n)
	}
	if err := p.Close(context.Background()); err != nil || p.Totals().Accepted != 20 {
		t.Fatalf("%v %+v", err, p.Totals())
	}
}

func TestPublisherFlushesByInterval(t *testing.T) {
	h, list := server(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	p := client.New(srv.URL).NewPublisher(client.Batching{MaxEvents: 1000, Interval: 20 * time.Millisecond})
	defer p.Close(context.Background())
	p.Add(context.Background(), ev("i", "1"))
	// No Flush: the timer must deliver it. Wait on the condition.
	deadline := time.Now().Add(10 * time.Second)
	for len(list("i")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("timed flush never delivered the event")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIDsSortByCreationAndAreUnique(t *testing.T) {
	g1, g2 := client.NewIDGenerator(), client.NewIDGenerator()
	seen := map[string]bool{}
	var ids []string
	for i := 0; i < 20000; i++ {
		for _, g := range []*client.IDGenerator{g1, g2} {
			id := g.New()
			if len(id) != 26 || seen[id] {
				t.Fatalf("id %q: bad length or repeated", id)
			}
			seen[id] = true
		}
		ids = append(ids, g1.New())
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids of one generator do not sort in creation order")
	}
	// Across generators: an id made a millisecond later sorts later.
	a := g1.New()
	time.Sleep(2 * time.Millisecond)
	if b := g2.New(); b <= a {
		t.Fatalf("%s made later than %s sorts before it", b, a)
	}
}

// A server that stores the batch but answers after the client's timeout
// makes the client retry; the retry finds the events already stored.
func TestTimeoutIsRetried(t *testing.T) {
	h, list := server(t)
	f := &faultServer{h: h, script: []string{"slow", "ok"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	clock := &fakeClock{now: time.Unix(0, 0)}
	c := client.New(srv.URL, client.WithTimeSource(clock), client.WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
	res, err := c.Publish(context.Background(), ev("slow", "1"))
	if err != nil || res.Retries != 1 || res.Duplicates != 1 || res.Results[0].Seq != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if ids := list("slow"); fmt.Sprint(ids) != "[1]" {
		t.Fatalf("stored %v", ids)
	}
}

// TestTopicsIterator pages through 2,500 topics (more than one page) on a
// real server: each comes once, in name order; a prefix selects its
// topics; stopping early stops; Topic reads one, names with "/" included,
// and an unknown one is a 404 *Error.
func TestTopicsIterator(t *testing.T) {
	h, _ := server(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := client.New(srv.URL)
	ctx := context.Background()
	var want []string
	for b := 0; b < 3; b++ {
		var events []client.Event
		for k := 0; k < 850; k++ {
			name := fmt.Sprintf("t/%d/%03d", b, k)
			want = append(want, name)
			events = append(events, ev(name, "1"), ev(name, "1"))
		}
		if _, err := c.Publish(ctx, events...); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for tp, err := range c.Topics(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if tp.LastSeq != 1 || tp.Duplicates != 1 || tp.Received != 2 {
			t.Fatalf("topic %+v", tp)
		}
		got = append(got, tp.Topic)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("iterated %d topics, want %d once each in name order", len(got), len(want))
	}
	n := 0
	for tp, err := range c.Topics(ctx, "t/1/") {
		if err != nil || !strings.HasPrefix(tp.Topic, "t/1/") {
			t.Fatalf("prefix t/1/: %+v %v", tp, err)
		}
		if n++; n == 10 {
			break
		}
	}
	one, err := c.Topic(ctx, "t/2/007")
	if err != nil || one.Topic != "t/2/007" || one.LastSeq != 1 {
		t.Fatalf("Topic: %+v %v", one, err)
	}
	var e *client.Error
	if _, err := c.Topic(ctx, "nope"); !errors.As(err, &e) || e.Status != 404 || e.Code != "not_found" {
		t.Fatalf("unknown topic: %v", err)
	}
}

// TestUnprocessableIsNotRetried: a 422 (what FastAPI-style servers, and
// eventagg for a lone event that breaks a rule, answer) is a refusal like a
// 400: reported with its message and code, never retried.
func TestUnprocessableIsNotRetried(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(`{"error":"timestamp: not RFC 3339"}`))
	}))
	defer srv.Close()
	clock := &fakeClock{now: time.Unix(0, 0)}
	_, err := client.New(srv.URL, client.WithTimeSource(clock)).Publish(context.Background(), ev("t", "1"))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 422 || e.Code != "invalid" || e.Message != "timestamp: not RFC 3339" {
		t.Fatalf("422: %v", err)
	}
	if hits.Load() != 1 || len(clock.recorded()) != 0 {
		t.Fatalf("%d requests, waits %v: a 422 was retried", hits.Load(), clock.recorded())
	}
}
