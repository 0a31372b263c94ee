package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
)

// blockingIngester holds every Ingest until release is closed.
type blockingIngester struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingIngester) Ingest(ctx context.Context, events []eventagg.Event, _ int) ([]eventagg.Appended, error) {
	b.entered <- struct{}{}
	<-b.release
	return make([]eventagg.Appended, len(events)), nil
}

func TestInflightLimitAnswers503(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	ing := &blockingIngester{entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ingester: ing, Store: a.st, Queue: fakeQueue{}, MaxInflight: 1,
		InflightWait: 50 * time.Millisecond}).Routes())
	defer srv.Close()
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(ev("i", "1", ts)))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-ing.entered // the first request holds the only slot
	resp, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(ev("i", "2", ts)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := readAll(resp)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "--max-inflight") {
		t.Fatalf("second request: %d %s", resp.StatusCode, body)
	}
	close(ing.release)
	if code := <-first; code != 200 {
		t.Fatalf("first request: %d", code)
	}
}

// TestInflightWaitsForASlot starts 100 publishers at once against the
// default limit of 64 requests in flight, holding the first 64 in the
// store until the other 36 are waiting for a slot: all 100 get 200, none an
// immediate 503.
func TestInflightWaitsForASlot(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	const publishers = 100
	ing := &blockingIngester{entered: make(chan struct{}, publishers), release: make(chan struct{})}
	waiting := make(chan struct{}, publishers)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ingester: ing, Store: a.st, Queue: fakeQueue{},
		InflightWait: time.Minute, OnInflightWait: func() { waiting <- struct{}{} }}).Routes())
	defer srv.Close()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(ing.release) }) }
	defer release() // a failing check must not leave requests held (srv.Close would wait for them)
	codes := make(chan int, publishers)
	for i := 0; i < publishers; i++ {
		go func() {
			resp, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(ev("w", strconv.Itoa(i), ts)))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	timeout := time.After(30 * time.Second)
	for n := 0; n < publishers-httpapi.DefaultMaxInflight; n++ {
		select {
		case <-waiting:
		case code := <-codes:
			t.Fatalf("a request was answered %d while the store held the others: it did not wait for a slot", code)
		case <-timeout:
			t.Fatalf("only %d requests waited for a slot", n)
		}
	}
	release()
	for i := 0; i < publishers; i++ {
		if code := <-codes; code != 200 {
			t.Fatalf("publisher answered %d, want 200", code)
		}
	}
}

func TestNDJSONLineLimit(t *testing.T) {
	a := newApp(t, httpapi.Config{MaxLineBytes: 200})
	long := `{"topic":"l","event_id":"2","timestamp":"` + ts + `","source":"s","payload":{"p":"` + strings.Repeat("x", 300) + `"}}`
	r := a.do("POST", "/publish", "application/x-ndjson", []byte(ev("l", "1", ts)+"\n"+long+"\n"+ev("l", "3", ts)))
	var res publishResult
	r.decode(t, &res)
	if res.summary() != "accepted:1 rejected accepted:2" || !strings.HasPrefix(res.Results[1].Error, "line 2: longer than the limit of 200 bytes") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestPayloadLimitsAreConfigurable(t *testing.T) {
	a := newApp(t, httpapi.Config{Payload: eventagg.PayloadLimits{MaxBytes: 64, MaxDepth: 2}})
	big := `{"topic":"p","event_id":"1","timestamp":"` + ts + `","source":"s","payload":{"x":"` + strings.Repeat("y", 80) + `"}}`
	deep := `{"topic":"p","event_id":"2","timestamp":"` + ts + `","source":"s","payload":{"a":{"b":{}}}}`
	ok := `{"topic":"p","event_id":"3","timestamp":"` + ts + `","source":"s","payload":{"a":{"b":1}}}`
	res := a.publishOK(arr(big, deep, ok))
	if res.summary() != "rejected rejected accepted:1" ||
		!strings.HasPrefix(res.Results[0].Error, "payload: 88 bytes exceeds the limit of 64 bytes (--max-payload-bytes)") ||
		!strings.HasPrefix(res.Results[1].Error, "payload: nested deeper than the limit of 2 levels (--max-payload-depth)") {
		t.Fatalf("%+v", res)
	}
}
