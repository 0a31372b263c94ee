// Package httpapi is eventagg's HTTP interface: every route is registered in
// Routes, and each handler decodes, validates, calls the pipeline or the
// store, and answers through the shared JSON helpers.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/eventagg/eventagg"
)

// Queue is what the handlers need to know of the pipeline.
type Queue interface {
	Queued() int
	Saturated() bool
	// CommitError is a recent commit's error, nil when writes work.
	CommitError() error
}

// Config holds the server's collaborators and limits.
type Config struct {
	Ingester eventagg.Ingester
	Store    eventagg.Store // for reads: events, stats, ping
	Queue    Queue
	Notifier Notifier // wakes subscribers at commits; optional
	Observer Observer // metrics; optional
	Auth     *Auth    // API keys; nil leaves the API open
	// Metrics serves GET /metrics when set.
	Metrics http.Handler
	Logger  *slog.Logger

	MaxBodyBytes int64 // largest /publish body
	MaxEvents    int   // most events in one /publish request
	// MaxInflight bounds concurrent /publish requests, and so the memory
	// their bodies take (MaxInflight × MaxBodyBytes); beyond it, 503.
	MaxInflight int
	// InflightWait is how long a /publish waits for a slot before it is
	// shed with 503: at ordinary concurrency (a hundred publishers starting
	// at once) requests queue briefly instead of failing. A waiting
	// request has not read its body, so memory stays bounded. 0 means
	// DefaultInflightWait; negative, no wait.
	InflightWait time.Duration
	// OnInflightWait, if set, is called when a /publish starts waiting for
	// a slot (a test seam).
	OnInflightWait func()
	// MaxLineBytes is the longest NDJSON line; a longer one rejects its event.
	MaxLineBytes int
	// Payload bounds each event's payload; zero fields take the defaults.
	Payload eventagg.PayloadLimits
	// MaxSubscribers bounds concurrent /subscribe streams; beyond it, 503.
	MaxSubscribers int
	// SubscribePoll bounds how late a stream sees commits that its Notifier
	// missed (another replica's, without LISTEN/NOTIFY).
	SubscribePoll time.Duration
	// Heartbeat is the interval of SSE comment lines that keep proxies
	// from closing idle streams.
	Heartbeat time.Duration
	// RingEvents and RingBytes bound the feed's ring of recent events that
	// live streams read from: a stream further behind reads the store.
	RingEvents, RingBytes int
	// CatchUpReads bounds the store reads of streams that are behind, all
	// streams together.
	CatchUpReads int
	StoreName    string

	// Now is the clock for uptime and windows; tests may replace it.
	Now func() time.Time
}

// Observer is told of every verdict and every publish, for metrics.
type Observer interface {
	Event(topic string, status eventagg.Status, reason string)
	Publish(d time.Duration)
}

type noObserver struct{}

func (noObserver) Event(string, eventagg.Status, string) {}
func (noObserver) Publish(time.Duration)                 {}

// Defaults for Config's limits.
const (
	DefaultMaxBodyBytes = 16 << 20
	DefaultMaxEvents    = 10_000
	DefaultMaxInflight  = 64
	DefaultInflightWait = 2 * time.Second
	DefaultMaxLineBytes = 1 << 20
	DefaultPageLimit    = 1000
	MaxPageLimit        = 10_000
)

// Server serves the HTTP API.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	started time.Time
	window  *window
	active  *activeTopics // the most active topics, for the dashboard

	subscribers chan struct{} // one token per open stream
	feed        *feed         // the recent events, read once for every live stream
	catchUp     chan struct{} // one token per store read of a stream that is behind
	streams     streams
	inflight    chan struct{} // one token per /publish being handled
	closing     chan struct{} // closed by CloseStreams
	closeOnce   sync.Once
}

// New returns a Server; zero limits take their defaults.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.InflightWait == 0 {
		cfg.InflightWait = DefaultInflightWait
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.Payload.MaxBytes <= 0 {
		cfg.Payload.MaxBytes = eventagg.DefaultPayloadLimits.MaxBytes
	}
	if cfg.Payload.MaxDepth <= 0 {
		cfg.Payload.MaxDepth = eventagg.DefaultPayloadLimits.MaxDepth
	}
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.SubscribePoll <= 0 {
		cfg.SubscribePoll = time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.RingEvents <= 0 {
		cfg.RingEvents = DefaultRingEvents
	}
	if cfg.RingBytes <= 0 {
		cfg.RingBytes = DefaultRingBytes
	}
	if cfg.CatchUpReads <= 0 {
		cfg.CatchUpReads = DefaultCatchUpReads
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, logger: cfg.Logger, started: cfg.Now(), window: &window{}, active: &activeTopics{},
		subscribers: make(chan struct{}, cfg.MaxSubscribers), inflight: make(chan struct{}, cfg.MaxInflight),
		closing: make(chan struct{}), catchUp: make(chan struct{}, cfg.CatchUpReads),
		feed: newFeed(cfg.Store, cfg.Notifier, cfg.SubscribePoll, cfg.RingEvents, cfg.RingBytes, cfg.Logger)}
}

// Routes returns the handler with every route of the API. Each path also
// gets a fallback that answers 405 in JSON with an Allow header.
func (s *Server) Routes() http.Handler {
	type route struct {
		method, path string
		right        Right // "" = open to all, for probes and static pages
		handler      http.HandlerFunc
	}
	routes := []route{
		{"POST", "/publish", RightPublish, s.handlePublish},
		{"POST", "/publish/batch", RightPublish, s.handlePublish}, // the FastAPI aggregators' batch route
		{"GET", "/events", RightRead, s.handleEvents},
		{"GET", "/stats", RightRead, s.handleStats},
		{"GET", "/topics", RightRead, s.handleTopics},
		{"GET", "/topics/{name...}", RightRead, s.handleTopic}, // names may hold "/"
		{"GET", "/subscribe", RightRead, s.handleSubscribe},
		{"GET", "/health", "", s.handleHealth},
		{"GET", "/healthz", "", s.handleHealthz},
		{"GET", "/readyz", "", s.handleReadyz},
		{"GET", "/openapi.json", "", s.handleOpenAPI},
		{"GET", "/{$}", "", s.handleDashboard},
	}
	if s.cfg.Metrics != nil {
		routes = append(routes, route{"GET", "/metrics", RightAdmin, s.cfg.Metrics.ServeHTTP})
	}
	mux := http.NewServeMux()
	allow := map[string][]string{}
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, s.authorize(rt.right, rt.handler))
		allow[rt.path] = append(allow[rt.path], rt.method)
	}
	for path, methods := range allow {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " " + path + ": method not allowed"})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route " + r.Method + " " + r.URL.Path})
	})
	return s.logRequests(mux)
}

// logRequests logs one line per request at debug level. When debug is off
// it costs one check per request.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start), "remote", r.RemoteAddr)
	})
}

// statusWriter remembers the status; Unwrap keeps http.ResponseController
// (flushes and deadlines of /subscribe) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Subscribers is the number of open /subscribe streams.
func (s *Server) Subscribers() int { return len(s.subscribers) }
