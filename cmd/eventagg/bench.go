package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventagg/eventagg/client"
	"github.com/eventagg/eventagg/internal/latency"
)

type benchConfig struct {
	url, db, idMode, key string
	cpuProfile           string
	embedded, jsonOut    bool
	clocks               bool
	events, batch, conc  int
	topics, payloadBytes int
	subscribers          int
	subscriberTopics     string
	dupRate, rate        float64
	duration             time.Duration
}

func parseBench(args []string, getenv func(string) string, stderr io.Writer) (benchConfig, error) {
	fs := newFlagSet("bench", getenv)
	fs.SetOutput(stderr)
	var c benchConfig
	url := fs.String("url", "EVENTAGG_URL", "", "server to load, or several replicas comma-separated (publishers spread over them); or --embedded")
	embedded := fs.FlagSet.Bool("embedded", false, "start a server in this process on a temporary SQLite file (see --db)")
	db := fs.String("db", "", "", "with --embedded: SQLite file to use and keep (default: a temporary file)")
	events := fs.Int("events", "", 100_000, "events to send (ignored with --duration)")
	duration := fs.FlagSet.Duration("duration", 0, "send for this long instead of a number of events")
	dupRate := fs.FlagSet.Float64("duplicate-rate", 0.2, "share of events that repeat an id sent before")
	topics := fs.Int("topics", "", 8, "number of topics")
	payloadBytes := fs.Int("payload-bytes", "", 100, "approximate payload size")
	batch := fs.Int("batch", "", 100, "events per request (1 = single-event requests)")
	conc := fs.Int("concurrency", "", 8, "concurrent publishers")
	idMode := fs.String("id", "", "random", "event ids: random or sortable")
	rate := fs.FlagSet.Float64("rate", 0, "fixed rate in events/s (0 = as fast as possible); latency then counts from each request's scheduled time, so a stall is not hidden (no coordinated omission)")
	jsonOut := fs.FlagSet.Bool("json", false, "print the report as JSON")
	clocks := fs.FlagSet.Bool("clocks", true, "stamp events with the client's Lamport clock; false sends \"clock\": null, as publishers without one do, and the server gives each its topic's largest")
	cpuProfile := fs.FlagSet.String("cpuprofile", "", "write a CPU profile of this process to the file (with --embedded it holds the server too)")
	subscribers := fs.Int("subscribers", "", 0, "live streams of /subscribe to hold open in this process while publishing (from the end); the run fails unless each receives exactly its events")
	subscriberTopics := fs.String("subscriber-topics", "", "all", "what each of --subscribers follows: all (all topics) or one (stream i follows topic bench.i mod --topics)")
	key := fs.String("key", "EVENTAGG_API_KEY", "", "API key with the publish and read rights, for servers run with --auth-file")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: eventagg bench [flags]\n\nLoads a server and reports throughput and latency, then checks /stats counted exactly what was sent.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.parse(args); err != nil {
		return c, err
	}
	c = benchConfig{url: *url, db: *db, idMode: *idMode, embedded: *embedded, jsonOut: *jsonOut, events: *events,
		batch: *batch, conc: *conc, topics: *topics, payloadBytes: *payloadBytes, dupRate: *dupRate, rate: *rate, duration: *duration, key: *key, cpuProfile: *cpuProfile, clocks: *clocks,
		subscribers: *subscribers, subscriberTopics: *subscriberTopics}
	if err := positive(map[string]int{"events": c.events, "batch": c.batch, "concurrency": c.conc, "topics": c.topics}); err != nil {
		return c, err
	}
	switch {
	case c.url == "" && !c.embedded:
		return c, fmt.Errorf("give --url of a server, or --embedded")
	case c.url != "" && c.embedded:
		return c, fmt.Errorf("--url and --embedded exclude each other")
	case c.dupRate < 0 || c.dupRate >= 1:
		return c, fmt.Errorf("--duplicate-rate must be in [0, 1), got %v", c.dupRate)
	case c.idMode != "random" && c.idMode != "sortable":
		return c, fmt.Errorf("--id must be random or sortable, got %q", c.idMode)
	case c.rate < 0 || c.payloadBytes < 0 || c.subscribers < 0:
		return c, fmt.Errorf("--rate, --payload-bytes and --subscribers must not be negative")
	case c.subscriberTopics != "all" && c.subscriberTopics != "one":
		return c, fmt.Errorf("--subscriber-topics must be all or one, got %q", c.subscriberTopics)
	}
	return c, nil
}

// generator makes the event stream: new ids, and with probability dupRate a
// repeat of an id already generated (a publisher's retry).
type generator struct {
	mu     sync.Mutex
	c      benchConfig
	ids    *client.IDGenerator
	recent []json.RawMessage // ring of generated events, repeated as sent (a retry carries the same content)
	next   int
	made   int
	dups   int
	fresh  []int // new events made, by topic
	pad    string
	runTag string
}

func newGenerator(c benchConfig) *generator {
	return &generator{c: c, ids: client.NewIDGenerator(), recent: make([]json.RawMessage, 0, 4096), fresh: make([]int, c.topics),
		pad: strings.Repeat("x", max(c.payloadBytes-20, 0)), runTag: strconv.FormatUint(rand.Uint64(), 36)}
}

// batch returns up to n encoded events, fewer when the event budget ends.
func (g *generator) batch(n int, limit int) []json.RawMessage {
	g.mu.Lock()
	defer g.mu.Unlock()
	if limit > 0 {
		n = min(n, limit-g.made)
	}
	out := make([]json.RawMessage, 0, max(n, 0))
	for i := 0; i < n; i++ {
		g.made++
		if len(g.recent) > 0 && rand.Float64() < g.c.dupRate {
			out = append(out, g.recent[rand.IntN(len(g.recent))])
			g.dups++
			continue
		}
		t := rand.IntN(g.c.topics)
		g.fresh[t]++
		topic := "bench." + strconv.Itoa(t)
		var id string
		if g.c.idMode == "sortable" {
			id = g.ids.New()
		} else {
			id = fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
		}
		e := g.encode(topic, id)
		if len(g.recent) < cap(g.recent) {
			g.recent = append(g.recent, e)
		} else {
			g.recent[g.next] = e
			g.next = (g.next + 1) % len(g.recent)
		}
		out = append(out, e)
	}
	return out
}

// encode renders one event; appending by hand keeps the generator from
// taking CPU the server under test needs.
func (g *generator) encode(topic, id string) json.RawMessage {
	b := make([]byte, 0, 128+len(g.pad))
	b = append(b, '{')
	if !g.c.clocks {
		b = append(b, `"clock":null,`...) // the client then leaves it unstamped
	}
	b = append(b, `"topic":`...)
	b = strconv.AppendQuote(b, topic)
	b = append(b, `,"event_id":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"timestamp":"`...)
	b = time.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05.999999Z07:00")
	b = append(b, `","source":"bench-`...)
	b = append(b, g.runTag...)
	b = append(b, `","payload":{"n":`...)
	b = strconv.AppendInt(b, int64(g.made), 10)
	b = append(b, `,"pad":"`...)
	b = append(b, g.pad...)
	b = append(b, `"}}`...)
	return b
}

// benchReport is what bench prints.
type benchReport struct {
	Events         int     `json:"events"`
	Requests       int     `json:"requests"`
	Failed         int     `json:"failed_requests"`
	Retries        int     `json:"retries"`
	Seconds        float64 `json:"seconds"`
	EventsPerSec   float64 `json:"events_per_second"`
	RequestsPerSec float64 `json:"requests_per_second"`
	LatencyMS      struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`
	DupRateSent     float64            `json:"duplicate_rate_sent"`
	DupRateReported float64            `json:"duplicate_rate_reported"`
	Conflicts       int64              `json:"conflicts_reported"`
	StatsDelta      map[string]int64   `json:"stats_delta"`
	Expected        map[string]int64   `json:"stats_expected"`
	Subscribers     *subscribersReport `json:"subscribers,omitempty"`
	Mismatches      []string           `json:"mismatches"`
	Config          map[string]string  `json:"config"`
}

func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseBench(args, getenv, stderr)
	if err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	url := c.url
	if c.embedded {
		db := c.db
		if db == "" {
			dir, err := os.MkdirTemp("", "eventagg-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			db = filepath.Join(dir, "bench.db")
		}
		sc := serveConfig{addr: "127.0.0.1:0", db: db, maxBody: 16 << 20, maxEvents: 10_000, maxQueued: 100_000}
		svc, err := startService(ctx, sc, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer svc.stop(time.Minute)
		url = svc.URL()
	}
	httpc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c.conc, MaxConnsPerHost: c.conc}}
	var clients []*client.Client
	for _, u := range strings.Split(url, ",") {
		clients = append(clients, client.New(strings.TrimSpace(u), client.WithHTTPClient(httpc), client.WithAPIKey(c.key)))
	}
	url = strings.TrimSpace(strings.Split(url, ",")[0]) // replicas share a store: any one's /stats will do
	// Start from a settled server: events still pending from earlier work
	// would otherwise land in this run's processed delta.
	before, err := waitIdle(ctx, httpc, url, c.key)
	if err != nil {
		return err
	}

	var subs *benchSubscribers
	if c.subscribers > 0 {
		if subs, err = openSubscribers(ctx, url, c.key, c.subscribers, c.topics, c.subscriberTopics == "one"); err != nil {
			return err
		}
		defer subs.close()
	}
	gen := newGenerator(c)
	limit := c.events
	if c.duration > 0 {
		limit = 0
	}
	var (
		mu        sync.Mutex
		hist      latency.Histogram
		requests  atomic.Int64
		failed    atomic.Int64
		retries   atomic.Int64
		reportDup atomic.Int64
		conflicts atomic.Int64
		sent      atomic.Int64
		slot      atomic.Int64 // next scheduled request, in --rate mode
		firstErr  atomic.Value
	)
	start := time.Now()
	deadline := start.Add(c.duration)
	stopProgress := progress(stderr, c.jsonOut, start, &sent)
	var wg sync.WaitGroup
	for w := 0; w < c.conc; w++ {
		wg.Add(1)
		cl := clients[w%len(clients)]
		go func() {
			defer wg.Done()
			var h latency.Histogram
			defer func() { mu.Lock(); hist.Merge(&h); mu.Unlock() }()
			for ctx.Err() == nil {
				if c.duration > 0 && time.Now().After(deadline) {
					return
				}
				events := gen.batch(c.batch, limit)
				if len(events) == 0 {
					return
				}
				t0 := time.Now()
				if c.rate > 0 {
					// The request's place in the fixed schedule; latency is
					// counted from there, even if we are running late.
					k := slot.Add(1) - 1
					t0 = start.Add(time.Duration(float64(k*int64(c.batch)) / c.rate * float64(time.Second)))
					if d := time.Until(t0); d > 0 {
						time.Sleep(d)
					}
				}
				res, err := cl.PublishRaw(ctx, events...)
				h.Record(time.Since(t0))
				requests.Add(1)
				retries.Add(int64(res.Retries))
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				reportDup.Add(int64(res.Duplicates))
				conflicts.Add(int64(res.Conflicts))
				sent.Add(int64(len(events)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	after, err := waitIdle(ctx, httpc, url, c.key)
	if err != nil {
		return err
	}
	gen.mu.Lock()
	made, dups, fresh := gen.made, gen.dups, gen.fresh
	gen.mu.Unlock()
	r := benchReport{
		Events: made, Requests: int(requests.Load()), Failed: int(failed.Load()), Retries: int(retries.Load()),
		Seconds: elapsed.Seconds(), EventsPerSec: float64(sent.Load()) / elapsed.Seconds(),
		RequestsPerSec:  float64(requests.Load()) / elapsed.Seconds(),
		DupRateSent:     float64(dups) / float64(max(made, 1)),
		DupRateReported: float64(reportDup.Load()) / float64(max(made, 1)),
		Conflicts:       conflicts.Load(),
		StatsDelta:      map[string]int64{},
		Expected: map[string]int64{"received": int64(made), "duplicate_dropped": int64(dups), "unique_processed": int64(made - dups),
			"conflicts": 0, "rejected": 0},
		Mismatches: []string{},
		Config: map[string]string{"url": url, "batch": strconv.Itoa(c.batch), "concurrency": strconv.Itoa(c.conc),
			"duplicate_rate": fmt.Sprint(c.dupRate), "id": c.idMode, "topics": strconv.Itoa(c.topics), "payload_bytes": strconv.Itoa(c.payloadBytes),
			"clocks": strconv.FormatBool(c.clocks)},
	}
	r.LatencyMS.P50, r.LatencyMS.P90 = millis(hist.Quantile(0.5)), millis(hist.Quantile(0.9))
	r.LatencyMS.P99, r.LatencyMS.Max = millis(hist.Quantile(0.99)), millis(hist.Max())
	if r.Conflicts > 0 {
		r.Mismatches = append(r.Mismatches, fmt.Sprintf("%d events answered conflict: the bench repeats events unchanged", r.Conflicts))
	}
	for _, k := range []string{"received", "duplicate_dropped", "unique_processed", "conflicts", "rejected"} {
		r.StatsDelta[k] = after[k] - before[k]
		if r.StatsDelta[k] != r.Expected[k] {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s: server counted %d, bench sent %d", k, r.StatsDelta[k], r.Expected[k]))
		}
	}
	if subs != nil {
		sr, bad := subs.drain(fresh, made-dups)
		r.Subscribers = &sr
		r.Mismatches = append(r.Mismatches, bad...)
	}
	if e, ok := firstErr.Load().(string); ok {
		r.Mismatches = append(r.Mismatches, fmt.Sprintf("%d requests failed, first: %s", r.Failed, e))
	}
	printReport(stdout, c, r)
	if len(r.Mismatches) > 0 {
		return exitError{1}
	}
	return nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// progress prints a live line to a terminal (not when piped, not with
// --json) until the returned stop is called.
func progress(w io.Writer, jsonOut bool, start time.Time, sent *atomic.Int64) (stop func()) {
	f, ok := w.(*os.File)
	if jsonOut || !ok {
		return func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				s := time.Since(start).Seconds()
				fmt.Fprintf(f, "\r\033[K%6.1fs  %d events  %.0f events/s", s, sent.Load(), float64(sent.Load())/s)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func printReport(w io.Writer, c benchConfig, r benchReport) {
	if c.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(r)
		return
	}
	fmt.Fprintf(w, "events      %d in %d requests (%d failed, %d retries) over %.2fs\n", r.Events, r.Requests, r.Failed, r.Retries, r.Seconds)
	fmt.Fprintf(w, "throughput  %.0f events/s, %.0f requests/s\n", r.EventsPerSec, r.RequestsPerSec)
	fmt.Fprintf(w, "latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	fmt.Fprintf(w, "duplicates  sent %.1f%%, server reported %.1f%%; %d conflicts\n", 100*r.DupRateSent, 100*r.DupRateReported, r.Conflicts)
	if s := r.Subscribers; s != nil {
		what := map[string]string{"all": "all topics", "one": "one topic each"}[s.Topics]
		fmt.Fprintf(w, "subscribers %d streams (%s) got %d–%d events each, %d in all; the last %.0fms after publishing\n",
			s.Streams, what, s.ReceivedMin, s.ReceivedMax, s.Delivered, s.DrainMS)
	}
	if len(r.Mismatches) == 0 {
		fmt.Fprintln(w, "stats       /stats deltas match what was sent")
	}
	for _, m := range r.Mismatches {
		fmt.Fprintln(w, "MISMATCH   ", m)
	}
}

func getStats(ctx context.Context, h *http.Client, url, key string) (map[string]int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/stats", nil)
	if err != nil {
		return nil, err
	}
	setKey(req, key)
	resp, err := h.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /stats: %s", resp.Status)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("GET /stats: %w", err)
	}
	out := map[string]int64{}
	for _, k := range []string{"received", "duplicate_dropped", "unique_processed", "conflicts", "rejected", "pending"} {
		v, ok := m[k].(float64)
		if !ok && k != "conflicts" { // a server older than conflicts has none
			return nil, fmt.Errorf("GET /stats: no %q counter", k)
		}
		out[k] = int64(v)
	}
	return out, nil
}

// waitIdle reads /stats until the consumer has caught up (pending 0).
func waitIdle(ctx context.Context, h *http.Client, url, key string) (map[string]int64, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := getStats(ctx, h, url, key)
		if err != nil || s["pending"] == 0 {
			return s, err
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("server still has %d events pending after 2 minutes", s["pending"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func setKey(req *http.Request, key string) {
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
}
