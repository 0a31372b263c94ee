package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/httpapi"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

// While PostgreSQL cannot be reached, /publish answers 503 with Retry-After
// and /readyz fails; when it is back, the service recovers by itself and
// nothing acknowledged before is lost.
func TestPostgresOutageAnswers503AndRecovers(t *testing.T) {
	proxy, proxied := proxyTo(t, pgtest.FreshSchema(t), "10") // generous: CI runs packages side by side
	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", store: proxied, maxBody: 1 << 20, maxEvents: 100, maxQueued: 1000},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	post := func(id string) (int, string) {
		resp, err := httpc.Post(svc.URL()+"/publish", "application/json", strings.NewReader(line("pg", id)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if code, _ := post("before"); code != 200 {
		t.Fatalf("before the outage: %d", code)
	}
	proxy.cut()
	if code, retry := post("during"); code != 503 || retry == "" {
		t.Fatalf("during the outage: %d, Retry-After %q", code, retry)
	}
	if resp, err := httpc.Get(svc.URL() + "/readyz"); err != nil || resp.StatusCode != 503 {
		t.Fatalf("readyz during the outage: %v %v", resp.StatusCode, err)
	}
	proxy.restore()
	waitFor(t, func() bool { code, _ := post("after"); return code == 200 })
	p := &proc{t: t, url: svc.URL()}
	var ids []string
	for _, e := range p.listAll("pg") {
		ids = append(ids, e.EventID)
	}
	if got := strings.Join(ids, " "); got != "before after" && got != "before during after" {
		t.Fatalf("stored %q", got)
	}
}

// Eight publishers send batches whose ids overlap (repeats across
// publishers) to two replicas at once: every request gets 200. No deadlock,
// serialization or unique-violation error ever reaches a publisher.
func TestPostgresOverlappingBatchesAllSucceed(t *testing.T) {
	dbURL := pgtest.FreshSchema(t)
	var svcs []*service
	for i := 0; i < 2; i++ {
		svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", store: dbURL, maxBody: 16 << 20, maxEvents: 10000, maxQueued: 100000},
			slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer svc.stop(10 * time.Second)
		svcs = append(svcs, svc)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pub := &publisher{id: i}
			for b := 0; b < 15; b++ {
				body, _ := pub.body()
				resp, err := httpc.Post(svcs[i%2].URL()+"/publish", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err.Error()
					return
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- string(msg)
					return
				}
				pub.batch++
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A subscriber on one replica sees events published on another through
// LISTEN/NOTIFY: with the fallback poll and the heartbeat (which also looks
// for events) set to an hour, nothing else could deliver them. The events
// come one request after another, so every commit, not only the first, must
// wake the other replica.
func TestNotifyReachesOtherReplica(t *testing.T) {
	dbURL := pgtest.FreshSchema(t)
	var urls []string
	for i := 0; i < 2; i++ {
		store, _, err := openStore(context.Background(), serveConfig{store: dbURL})
		if err != nil {
			t.Fatal(err)
		}
		pipe := pipeline.Start(store, pipeline.Config{}, nil)
		api := httpapi.New(httpapi.Config{Ingester: pipe, Store: store, Queue: pipe, Notifier: pipe,
			SubscribePoll: time.Hour, Heartbeat: time.Hour})
		srv := httptest.NewServer(api.Routes())
		t.Cleanup(func() { api.CloseStreams(); srv.Close(); pipe.Close(context.Background()); store.Close() })
		urls = append(urls, srv.URL)
	}
	// Subscribe on replica 1 from the current end (nothing yet), and wait
	// until the stream is open before publishing on replica 0.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", urls[1]+"/subscribe?topic=notify", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": subscribed" {
		t.Fatalf("stream did not open: %q", sc.Text())
	}
	const n = 40
	for i := 1; i <= n; i++ {
		publishLines(t, urls[0], line("notify", fmt.Sprint(i)))
	}
	next := 1
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "data: ") {
			continue
		}
		if want := fmt.Sprintf(`"event_id":"%d"`, next); !strings.Contains(sc.Text(), want) {
			t.Fatalf("want %s, got %s", want, sc.Text())
		}
		if next++; next > n {
			return
		}
	}
	t.Fatalf("%d of %d events reached the other replica: %v", next-1, n, sc.Err())
}

// TestPostgresReplicaFeedsItsSubscribers: a stream on one replica gets,
// from that replica's own ring, what is published on the other (its feed
// wakes on the other's NOTIFY), in seq order, each event once. The first
// event may come from the store (the stream may still be reading it when
// it commits); once the client has it, the stream is on the ring.
func TestPostgresReplicaFeedsItsSubscribers(t *testing.T) {
	dbURL := pgtest.FreshSchema(t)
	var svcs []*service
	for i := 0; i < 2; i++ {
		svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", store: dbURL, maxBody: 1 << 20, maxEvents: 1000, maxQueued: 10000, maxSubscribers: 10},
			slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer svc.stop(10 * time.Second)
		svcs = append(svcs, svc)
	}
	publishLines(t, svcs[0].URL(), line("pg", "before"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", svcs[1].URL()+"/subscribe?topic=pg&from=end", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && sc.Text() != ": subscribed" {
	}
	var got []string
	publishLines(t, svcs[0].URL(), line("pg", "e0"))
	for len(got) < 5 && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e struct {
				EventID string `json:"event_id"`
				Seq     int64  `json:"seq"`
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(e.EventID, ":", e.Seq))
			if len(got) == 1 {
				for i := 1; i < 5; i++ {
					publishLines(t, svcs[0].URL(), line("pg", fmt.Sprint("e", i)))
				}
			}
		}
	}
	if fmt.Sprint(got) != "[e0:2 e1:3 e2:4 e3:5 e4:6]" {
		t.Fatalf("the stream on the other replica got %v", got)
	}
	m, err := httpc.Get(svcs[1].URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	m.Body.Close()
	fromRing := regexp.MustCompile(`(?m)^eventagg_subscriber_deliveries_total\{from="ring"\} ([0-9]+)$`).FindStringSubmatch(string(body))
	if fromRing == nil || (fromRing[1] != "4" && fromRing[1] != "5") {
		t.Fatalf("the events did not come from the replica's ring (%d):\n%s", m.StatusCode, grepLines(string(body), "eventagg_subscriber"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
