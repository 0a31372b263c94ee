package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/sqlite"
)

// app is a whole service in-process: real SQLite file, real pipeline, real
// HTTP server on a loopback port.
type app struct {
	t    *testing.T
	path string
	// wrap, if set, wraps the store the server reads from (not the
	// pipeline's), for tests that count its reads.
	wrap func(eventagg.Store) eventagg.Store
	srv  *httptest.Server
	api  *httpapi.Server
	pipe *pipeline.Pipeline
	st   *sqlite.Store
}

func newApp(t *testing.T, cfg httpapi.Config) *app {
	t.Helper()
	a := &app{t: t, path: filepath.Join(t.TempDir(), "eventagg.db")}
	a.start(cfg)
	t.Cleanup(a.stop)
	return a
}

func (a *app) start(cfg httpapi.Config) {
	a.t.Helper()
	st, err := sqlite.Open(context.Background(), a.path)
	if err != nil {
		a.t.Fatal(err)
	}
	a.st = st
	// The feed takes this replica's commits from the writer, as in serve.
	var api *httpapi.Server
	a.pipe = pipeline.Start(st, pipeline.Config{
		OnAppend: func(events []eventagg.Event, out []eventagg.Appended) { api.Appended(events, out) },
	}, nil)
	cfg.Ingester, cfg.Store, cfg.Queue, cfg.Notifier = a.pipe, st, a.pipe, a.pipe
	if a.wrap != nil {
		cfg.Store = a.wrap(st)
	}
	a.api = httpapi.New(cfg)
	api = a.api
	a.srv = httptest.NewServer(a.api.Routes())
}

// stop shuts down like SIGTERM does: server, then pipeline, then store.
func (a *app) stop() {
	if a.srv == nil {
		return
	}
	a.api.CloseStreams()
	a.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.pipe.Close(ctx); err != nil {
		a.t.Errorf("pipeline close: %v", err)
	}
	a.st.Close()
	a.srv = nil
}

func (a *app) restart(cfg httpapi.Config) {
	a.stop()
	a.start(cfg)
}

// idle waits until the consumer has processed everything acknowledged.
func (a *app) idle() {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.pipe.WaitIdle(ctx); err != nil {
		a.t.Fatalf("consumer did not catch up: %v", err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorText returns the "error" field of a JSON error answer.
func (r response) errorText(t *testing.T) string {
	t.Helper()
	var e struct{ Error string }
	r.decode(t, &e)
	if e.Error == "" {
		t.Fatalf("answer %d %s has no error", r.status, r.body)
	}
	return e.Error
}

func (a *app) do(method, path, contentType string, body []byte) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *app) publish(body string) response {
	a.t.Helper()
	return a.do("POST", "/publish", "application/json", []byte(body))
}

func (a *app) get(path string) response {
	a.t.Helper()
	return a.do("GET", path, "", nil)
}

type publishResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Conflicts  int `json:"conflicts"`
	Rejected   int `json:"rejected"`
	Results    []struct {
		Index  int    `json:"index"`
		Status string `json:"status"`
		Seq    int64  `json:"seq"`
		Error  string `json:"error"`
	} `json:"results"`
}

// publishOK publishes and requires a 200.
func (a *app) publishOK(body string) publishResult {
	a.t.Helper()
	r := a.publish(body)
	if r.status != http.StatusOK {
		a.t.Fatalf("publish: %d %s", r.status, r.body)
	}
	var res publishResult
	r.decode(a.t, &res)
	return res
}

// summary renders results as "accepted:1 duplicate:1 rejected" for
// compact comparisons.
func (p publishResult) summary() string {
	var parts []string
	for _, r := range p.Results {
		switch r.Status {
		case "rejected":
			parts = append(parts, "rejected")
		default:
			parts = append(parts, r.Status+":"+itoa(r.Seq))
		}
	}
	return strings.Join(parts, " ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ev renders one event as JSON.
func ev(topic, id, ts string) string {
	b, _ := json.Marshal(map[string]any{
		"topic": topic, "event_id": id, "timestamp": ts, "source": "test",
		"payload": map[string]any{"id": id},
	})
	return string(b)
}

func arr(events ...string) string { return "[" + strings.Join(events, ",") + "]" }

type eventsPage struct {
	Events []struct {
		Topic      string          `json:"topic"`
		EventID    string          `json:"event_id"`
		Timestamp  string          `json:"timestamp"`
		Source     string          `json:"source"`
		Payload    json.RawMessage `json:"payload"`
		Clock      int64           `json:"clock"`
		Seq        int64           `json:"seq"`
		ReceivedAt string          `json:"received_at"`
	} `json:"events"`
	Next string `json:"next"`
	Last string `json:"last"`
}

type statsBody struct {
	Received        int64    `json:"received"`
	UniqueProcessed int64    `json:"unique_processed"`
	DuplicateDrop   int64    `json:"duplicate_dropped"`
	Conflicts       int64    `json:"conflicts"`
	Rejected        int64    `json:"rejected"`
	Pending         int64    `json:"pending"`
	Topics          []string `json:"topics"`
	TopicCount      int      `json:"topic_count"`
	UptimeSeconds   *float64 `json:"uptime_seconds"`
	Uptime          *float64 `json:"uptime"`
	StartedAt       string   `json:"started_at"`
	Throughput      *float64 `json:"throughput_per_second"`
	Latency         *struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"publish_latency_ms"`
}

func (a *app) stats() statsBody {
	a.t.Helper()
	r := a.get("/stats")
	if r.status != 200 {
		a.t.Fatalf("stats: %d %s", r.status, r.body)
	}
	var s statsBody
	r.decode(a.t, &s)
	return s
}
