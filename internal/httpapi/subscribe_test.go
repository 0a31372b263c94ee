package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/httpapi"
)

// sse is an open /subscribe stream.
type sse struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	sc     *bufio.Scanner
	lastID string
}

func (a *app) subscribe(query, lastEventID string) *sse {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/subscribe?"+query, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		a.t.Fatalf("subscribe: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Unchunked: each send is one write (see handleSubscribe).
	if len(resp.TransferEncoding) != 0 || !resp.Close {
		a.t.Fatalf("subscribe: transfer encoding %v, close %v; want the stream unchunked, ending with its connection", resp.TransferEncoding, resp.Close)
	}
	s := &sse{t: a.t, resp: resp, cancel: cancel, sc: bufio.NewScanner(resp.Body)}
	a.t.Cleanup(s.close)
	return s
}

func (s *sse) close() { s.cancel(); s.resp.Body.Close() }

// next reads events until it has n of them, returning "topic/id:seq" each.
// The read fails the test if the stream ends first; a deadline on the
// request context bounds it.
func (s *sse) next(n int) []string {
	s.t.Helper()
	timer := time.AfterFunc(20*time.Second, s.cancel)
	defer timer.Stop()
	var out []string
	var id string
	for len(out) < n && s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			var e struct {
				Topic   string `json:"topic"`
				EventID string `json:"event_id"`
				Seq     int64  `json:"seq"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				s.t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s/%s:%d", e.Topic, e.EventID, e.Seq))
			if id == "" {
				s.t.Fatal("event without id")
			}
			s.lastID, id = id, ""
		}
	}
	if len(out) < n {
		s.t.Fatalf("stream ended after %v, wanted %d events", out, n)
	}
	return out
}

func TestSubscribeResumesWithoutGapOrRepeat(t *testing.T) {
	// No poll and no heartbeat (which also reads) within the test: live
	// events can only come from the commit notification.
	cfg := httpapi.Config{SubscribePoll: time.Hour, Heartbeat: time.Hour}
	a := newApp(t, cfg)
	a.publishOK(arr(ev("s", "1", ts), ev("other", "x", ts)))
	sub := a.subscribe("topic=s", "")
	if got := fmt.Sprint(sub.next(1)); got != "[s/1:1]" {
		t.Fatalf("history: %s", got)
	}
	// Live: pushed when committed.
	a.publishOK(arr(ev("s", "2", ts), ev("s", "3", ts)))
	if got := fmt.Sprint(sub.next(2)); got != "[s/2:2 s/3:3]" {
		t.Fatalf("live: %s", got)
	}
	last := sub.lastID
	sub.close()
	// Published while away.
	a.publishOK(arr(ev("s", "4", ts), ev("s", "3", ts), ev("s", "5", ts)))
	sub = a.subscribe("topic=s", last)
	if got := fmt.Sprint(sub.next(2)); got != "[s/4:4 s/5:5]" {
		t.Fatalf("after reconnect: %s", got)
	}
	last = sub.lastID
	sub.close()
	// Across a restart, with ?after=.
	a.restart(cfg)
	a.publishOK(ev("s", "6", ts))
	sub = a.subscribe("topic=s&after="+last, "")
	if got := fmt.Sprint(sub.next(1)); got != "[s/6:6]" {
		t.Fatalf("after restart: %s", got)
	}
	// All topics, in global commit order.
	all := a.subscribe("", "")
	if got := fmt.Sprint(all.next(7)); got != "[s/1:1 other/x:1 s/2:2 s/3:3 s/4:4 s/5:5 s/6:6]" {
		t.Fatalf("all topics: %s", got)
	}
}

// A subscriber that stops reading holds its own stream only: publishing
// and another subscriber go on.
func TestStalledSubscriberDoesNotBlockPublishing(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	stalled := a.subscribe("topic=big", "") // never read
	_ = stalled
	live := a.subscribe("topic=big", "")
	a.publishBig("big") // far past any socket buffer
	if got := live.next(2000); got[1999] != "big/19-99:2000" {
		t.Fatalf("live subscriber ends at %s", got[1999])
	}
}

func TestSubscriberLimitAndBadParameters(t *testing.T) {
	a := newApp(t, httpapi.Config{MaxSubscribers: 1})
	a.subscribe("topic=x", "")
	r := a.get("/subscribe?topic=x")
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.errorText(t), "limit of 1") {
		t.Fatalf("second subscriber: %d %s", r.status, r.body)
	}
	if r := a.get("/subscribe?topic=bad%20topic"); r.status != 400 {
		t.Fatalf("bad topic: %d", r.status)
	}
	if r := a.get("/subscribe?after=junk"); r.status != 400 || !strings.HasPrefix(r.errorText(t), "after:") {
		t.Fatalf("bad cursor: %d %s", r.status, r.body)
	}
}

// With debug logging on, requests are logged and streams still flush
// through the logging wrapper.
func TestDebugRequestLogKeepsStreaming(t *testing.T) {
	var logs syncBuf
	a := newApp(t, httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sub := a.subscribe("topic=d", "")
	a.publishOK(ev("d", "1", ts))
	if got := fmt.Sprint(sub.next(1)); got != "[d/1:1]" {
		t.Fatalf("got %s", got)
	}
	if !strings.Contains(logs.String(), "msg=request method=POST path=/publish status=200") {
		t.Fatalf("no request line in:\n%s", logs.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// ?tail=N starts N events before the end; a reconnect of the same URL with
// Last-Event-ID (what EventSource does) resumes instead of failing.
func TestSubscribeTail(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	a.publishOK(arr(ev("t", "1", ts), ev("t", "2", ts), ev("t", "3", ts)))
	sub := a.subscribe("topic=t&tail=2", "")
	if got := fmt.Sprint(sub.next(2)); got != "[t/2:2 t/3:3]" {
		t.Fatalf("tail: %s", got)
	}
	last := sub.lastID
	sub.close()
	a.publishOK(ev("t", "4", ts))
	again := a.subscribe("topic=t&tail=2", last)
	if got := fmt.Sprint(again.next(1)); got != "[t/4:4]" {
		t.Fatalf("reconnect: %s", got)
	}
	if r := a.get("/subscribe?tail=2"); r.status != 400 || !strings.HasPrefix(r.errorText(t), "tail:") {
		t.Fatalf("tail without topic: %d %s", r.status, r.body)
	}
}

// publishBig publishes 2,000 events of 4 KB to topic, "0-0" … "19-99",
// in batches of 100: 8 MB in all.
func (a *app) publishBig(topic string) {
	a.t.Helper()
	payload := strings.Repeat("x", 4000)
	for b := 0; b < 20; b++ {
		var events []string
		for i := 0; i < 100; i++ {
			events = append(events, fmt.Sprintf(`{"topic":%q,"event_id":"%d-%d","timestamp":%q,"source":"s","payload":{"p":%q}}`, topic, b, i, ts, payload))
		}
		a.publishOK(arr(events...))
	}
}
