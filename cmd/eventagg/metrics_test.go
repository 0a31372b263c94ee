package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMetricsEndpoint(t *testing.T) {
	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", db: filepath.Join(t.TempDir(), "m.db"),
		maxBody: 1 << 20, maxEvents: 100, maxQueued: 1000, metricsTopics: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	publishLines(t, svc.URL(), line("a", "1"), line("a", "1"), line("b", "1"), line("c", "1"), line("d", "1"),
		`{"topic":"b","event_id":"1","timestamp":"2026-11-24T10:00:00Z","source":"file","payload":{"other":1}}`,
		`{"topic":"a","event_id":"2","timestamp":"never","source":"s","payload":{}}`, "{broken")
	resp, err := httpc.Get(svc.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`eventagg_events_received_total{topic="a"} 2`,
		`eventagg_events_received_total{topic="b"} 2`,
		`eventagg_events_conflict_total{topic="b"} 1`,
		`eventagg_events_received_total{topic="_other"} 2`, // c and d beyond the cap of 2
		`eventagg_events_duplicate_total{topic="a"} 1`,
		`eventagg_events_rejected_total{reason="timestamp"} 1`,
		`eventagg_events_rejected_total{reason="malformed"} 1`,
		`eventagg_publish_duration_seconds_count 1`,
		`eventagg_commit_batch_size_sum 6`,
		`eventagg_queue_depth 0`,
		`eventagg_subscribers 0`,
		`eventagg_consumer_lag_events `,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, `topic="c"`) {
		t.Error("a topic beyond the cap has its own label")
	}

	// A stream from the start reads the four stored events from the
	// store, then the next one from the ring.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", svc.URL()+"/subscribe", nil)
	sub, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Body.Close()
	sc := bufio.NewScanner(sub.Body)
	events := 0
	for events < 5 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			if events++; events == 4 {
				publishLines(t, svc.URL(), line("e", "1"))
			}
		}
	}
	resp, err = httpc.Get(svc.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`eventagg_subscriber_deliveries_total{from="store"} 4`,
		`eventagg_subscriber_deliveries_total{from="ring"} 1`,
		`eventagg_subscriber_lag_max_events 0`,
		`eventagg_subscribers 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
