package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
	"github.com/eventagg/eventagg/internal/metrics"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/postgres"
	"github.com/eventagg/eventagg/internal/store/sqlite"
)

// httpTimeouts bound how long a client may hold a connection at each stage,
// so slow or stalled clients (slowloris) cannot pile up.
type httpTimeouts struct {
	readHeader, read, write, idle time.Duration
}

// serveConfig is everything `eventagg serve` can be told, parsed once.
type serveConfig struct {
	addr, db, store      string
	maxBody              int
	maxEvents, maxQueued int
	maxSubscribers       int
	metricsTopics        int
	authFile             string
	maxInflight          int
	inflightWait         time.Duration
	maxLineBytes         int
	recentKeys           int
	retention            time.Duration
	storeTimeout         time.Duration
	payload              eventagg.PayloadLimits
	timeouts             httpTimeouts
	tlsCert, tlsKey      string
	logLevel, logFormat  string
	shutdownTimeout      time.Duration
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	fs := newFlagSet("serve", getenv)
	fs.SetOutput(stderr)
	var c serveConfig
	addr := fs.String("addr", "EVENTAGG_ADDR", ":8080", "address to listen on")
	db := fs.String("db", "EVENTAGG_DB", "./eventagg.db", "SQLite database file (created if missing)")
	store := fs.String("store", "EVENTAGG_STORE", "", "store URL: postgres://user@host/db for replicas on PostgreSQL, or sqlite:PATH; overrides --db")
	maxBody := fs.Int("max-body-bytes", "EVENTAGG_MAX_BODY_BYTES", httpapi.DefaultMaxBodyBytes, "largest /publish body in bytes (larger: 413)")
	maxEvents := fs.Int("max-events", "EVENTAGG_MAX_EVENTS", httpapi.DefaultMaxEvents, "most events in one /publish request (more: 413)")
	maxQueued := fs.Int("max-queued", "EVENTAGG_MAX_QUEUED", pipeline.DefaultConfig.MaxQueued, "most events waiting to be committed (more: 503 with Retry-After)")
	maxSubs := fs.Int("max-subscribers", "EVENTAGG_MAX_SUBSCRIBERS", httpapi.DefaultMaxSubscribers, "most concurrent /subscribe streams (more: 503)")
	metricsTopics := fs.Int("metrics-max-topics", "EVENTAGG_METRICS_MAX_TOPICS", 100, "topics with a metrics label of their own; the rest are counted as _other")
	maxInflight := fs.Int("max-inflight", "EVENTAGG_MAX_INFLIGHT", httpapi.DefaultMaxInflight, "most concurrent /publish requests; bounds body memory to this × --max-body-bytes (more: 503)")
	inflightWait := fs.Duration("inflight-wait", "EVENTAGG_INFLIGHT_WAIT", httpapi.DefaultInflightWait, "how long a /publish waits for one of the --max-inflight slots before it is answered 503")
	recentKeys := fs.Int("recent-keys", "EVENTAGG_RECENT_KEYS", sqlite.DefaultRecentKeys, "SQLite: dedup keys of the newest events held in memory (about 30 bytes each) before they are merged into the permanent index; more makes each merge cheaper")
	retention := fs.Duration("retention", "EVENTAGG_RETENTION", 0, "remove events committed longer ago than this (their dedup keys and seqs stay, so retries are still duplicates); 0 keeps everything")
	storeTimeout := fs.Duration("store-timeout", "EVENTAGG_STORE_TIMEOUT", pipeline.DefaultConfig.StoreTimeout, "longest wait for the store to commit a group (or apply one); past it publishers get 503 and retry")
	maxLine := fs.Int("max-line-bytes", "EVENTAGG_MAX_LINE_BYTES", httpapi.DefaultMaxLineBytes, "longest NDJSON line (longer: that event is rejected)")
	maxPayload := fs.Int("max-payload-bytes", "EVENTAGG_MAX_PAYLOAD_BYTES", eventagg.DefaultPayloadLimits.MaxBytes, "largest payload of one event (larger: that event is rejected)")
	maxDepth := fs.Int("max-payload-depth", "EVENTAGG_MAX_PAYLOAD_DEPTH", eventagg.DefaultPayloadLimits.MaxDepth, "deepest nesting of objects and arrays in a payload")
	readHeader := fs.Duration("read-header-timeout", "EVENTAGG_READ_HEADER_TIMEOUT", 10*time.Second, "time to read request headers")
	readT := fs.Duration("read-timeout", "EVENTAGG_READ_TIMEOUT", 2*time.Minute, "time to read a whole request")
	writeT := fs.Duration("write-timeout", "EVENTAGG_WRITE_TIMEOUT", 2*time.Minute, "time to write a response (streams of /subscribe extend it as they go)")
	idleT := fs.Duration("idle-timeout", "EVENTAGG_IDLE_TIMEOUT", 2*time.Minute, "time an idle keep-alive connection stays open")
	authFile := fs.String("auth-file", "EVENTAGG_AUTH_FILE", "", "API keys, one \"KEY publish,read,admin\" per line; without it the API is open")
	tlsCert := fs.String("tls-cert", "EVENTAGG_TLS_CERT", "", "TLS certificate file (PEM); with --tls-key serves HTTPS")
	tlsKey := fs.String("tls-key", "EVENTAGG_TLS_KEY", "", "TLS private key file (PEM)")
	logLevel := fs.String("log-level", "EVENTAGG_LOG_LEVEL", "info", "log level: debug, info, warn or error (duplicates are logged at debug)")
	logFormat := fs.String("log-format", "EVENTAGG_LOG_FORMAT", "text", "log format: text or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: eventagg serve [flags]\n\nRuns the HTTP service. Every flag falls back to its environment variable.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.parse(args); err != nil {
		return c, err
	}
	c = serveConfig{addr: *addr, db: *db, store: *store, maxBody: *maxBody, maxEvents: *maxEvents,
		maxQueued: *maxQueued, maxSubscribers: *maxSubs, metricsTopics: *metricsTopics, authFile: *authFile, maxInflight: *maxInflight, inflightWait: *inflightWait, maxLineBytes: *maxLine, recentKeys: *recentKeys, retention: *retention, storeTimeout: *storeTimeout,
		payload:  eventagg.PayloadLimits{MaxBytes: *maxPayload, MaxDepth: *maxDepth},
		timeouts: httpTimeouts{readHeader: *readHeader, read: *readT, write: *writeT, idle: *idleT}, tlsCert: *tlsCert, tlsKey: *tlsKey, logLevel: *logLevel, logFormat: *logFormat, shutdownTimeout: 30 * time.Second}
	if err := positive(map[string]int{"max-body-bytes": c.maxBody, "max-events": c.maxEvents, "max-queued": c.maxQueued, "max-subscribers": c.maxSubscribers, "metrics-max-topics": c.metricsTopics,
		"max-inflight": c.maxInflight, "max-line-bytes": c.maxLineBytes, "recent-keys": c.recentKeys,
		"max-payload-bytes": c.payload.MaxBytes, "max-payload-depth": c.payload.MaxDepth}); err != nil {
		return c, err
	}
	if c.storeTimeout <= 0 {
		return c, fmt.Errorf("--store-timeout must be positive, got %v", c.storeTimeout)
	}
	if c.retention < 0 {
		return c, fmt.Errorf("--retention must not be negative, got %v (0 keeps everything)", c.retention)
	}
	if c.inflightWait < 0 {
		return c, fmt.Errorf("--inflight-wait must not be negative, got %v", c.inflightWait)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.maxQueued < c.maxEvents {
		return c, fmt.Errorf("--max-queued (%d) must be at least --max-events (%d), or a full request could never fit", c.maxQueued, c.maxEvents)
	}
	return c, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// openStore opens the store the configuration names: --store (a
// postgres:// URL or sqlite:PATH) or else the SQLite file --db.
func openStore(ctx context.Context, c serveConfig) (eventagg.Store, string, error) {
	path := c.db
	if c.store != "" {
		scheme, rest, _ := strings.Cut(c.store, ":")
		switch scheme {
		case "postgres", "postgresql":
			s, err := postgres.Open(ctx, c.store)
			if err != nil {
				return nil, "", fmt.Errorf("open PostgreSQL store: %w (check --store / EVENTAGG_STORE and that the server is up)", err)
			}
			return s, s.String(), nil
		case "sqlite":
			path = rest
		default:
			return nil, "", fmt.Errorf("--store %q: unsupported store; use postgres://… or sqlite:PATH", c.store)
		}
	}
	s, err := sqlite.OpenOptions(ctx, path, sqlite.Options{RecentKeys: c.recentKeys})
	if err != nil {
		return nil, "", fmt.Errorf("open SQLite database %s: %w (check that the directory exists and is writable; "+
			"if the file is damaged, move it aside and restore a backup; or pass another --db)", path, err)
	}
	return s, "sqlite:" + path, nil
}

// service is a running eventagg: store, pipeline and HTTP server. serve
// runs one until a signal; bench --embedded runs one beside its load.
type service struct {
	store  eventagg.Store
	pipe   *pipeline.Pipeline
	srv    *http.Server
	ln     net.Listener
	name   string
	logger *slog.Logger
	served chan error
	tls    bool

	stopRetention func() // nil without --retention
}

// startService opens the store and starts serving on c.addr.
func startService(ctx context.Context, c serveConfig, logger *slog.Logger) (*service, error) {
	var auth *httpapi.Auth
	if c.authFile != "" {
		f, err := os.Open(c.authFile)
		if err != nil {
			return nil, fmt.Errorf("--auth-file: %w", err)
		}
		auth, err = httpapi.ParseAuth(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--auth-file %s: %w", c.authFile, err)
		}
	}
	if c.tlsCert != "" {
		// Load once here so a bad pair fails the start with a clear error.
		if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	store, name, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	var expirer eventagg.Expirer
	if c.retention > 0 {
		var ok bool
		if expirer, ok = store.(eventagg.Expirer); !ok {
			store.Close()
			return nil, fmt.Errorf("--retention: the %s store does not expire events; run without --retention", name)
		}
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("--addr %s: %w", c.addr, err)
	}
	var api *httpapi.Server
	m := metrics.New(c.metricsTopics, metrics.Sources{
		Store: store, Subscribers: func() int { return api.Subscribers() },
		Fanout: func() (int64, int64, int64) { f := api.Fanout(); return f.FromRing, f.FromStore, f.MaxLag },
	})
	pipe := pipeline.Start(store, pipeline.Config{MaxQueued: c.maxQueued, StoreTimeout: c.storeTimeout, OnCommit: m.Commit,
		OnAppend: func(events []eventagg.Event, out []eventagg.Appended) { api.Appended(events, out) }}, logger)
	m.SetQueue(pipe.Queued)
	api = httpapi.New(httpapi.Config{
		Ingester: pipe, Store: store, Queue: pipe, Notifier: pipe, Logger: logger,
		Observer: m, Metrics: m.Handler(), Auth: auth,
		MaxBodyBytes: int64(c.maxBody), MaxEvents: c.maxEvents, StoreName: name,
		MaxSubscribers: c.maxSubscribers, MaxInflight: c.maxInflight, InflightWait: c.inflightWait, MaxLineBytes: c.maxLineBytes, Payload: c.payload,
	})
	s := &service{store: store, pipe: pipe, ln: ln, name: name, logger: logger, served: make(chan error, 1), tls: c.tlsCert != ""}
	if expirer != nil {
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		r := &pipeline.Retention{Store: expirer, Keep: c.retention, Logger: logger}
		go func() { defer close(done); r.Run(rctx) }()
		s.stopRetention = func() { stop(); <-done }
	}
	s.srv = &http.Server{
		Handler:           api.Routes(),
		ReadHeaderTimeout: orDefault(c.timeouts.readHeader, 10*time.Second),
		ReadTimeout:       orDefault(c.timeouts.read, 2*time.Minute),
		WriteTimeout:      orDefault(c.timeouts.write, 2*time.Minute),
		IdleTimeout:       orDefault(c.timeouts.idle, 2*time.Minute),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	s.srv.RegisterOnShutdown(api.CloseStreams)
	if auth == nil && !isLoopback(ln.Addr()) {
		logger.Warn("the API is open to anyone who can reach this address; use --auth-file for API keys", "addr", ln.Addr().String())
	}
	logger.Info("eventagg listening", "addr", ln.Addr().String(), "store", name, "version", versionString(), "tls", c.tlsCert != "", "auth", auth != nil, "retention", c.retention.String())
	go func() {
		if c.tlsCert != "" {
			s.served <- s.srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
			return
		}
		s.served <- s.srv.Serve(ln)
	}()
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// URL is the service's base URL, e.g. http://127.0.0.1:8080.
func (s *service) URL() string {
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// stop drains: the listener stops, requests in flight are answered, the
// queue is committed, the consumer catches up, and the store is closed.
func (s *service) stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	if serr := s.srv.Shutdown(ctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = fmt.Errorf("http shutdown: %w", serr)
	}
	if s.stopRetention != nil {
		s.stopRetention()
	}
	if perr := s.pipe.Close(ctx); perr != nil {
		err = errors.Join(err, fmt.Errorf("pipeline shutdown: %w", perr))
	}
	if cerr := s.store.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
	}
	return err
}

// serve runs the service until ctx ends (SIGINT/SIGTERM), then drains.
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	s, err := startService(ctx, c, logger)
	if err != nil {
		return err
	}
	select {
	case err = <-s.served:
		err = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		logger.Info("shutting down: draining requests, queue and consumer")
	}
	if serr := s.stop(c.shutdownTimeout); serr != nil {
		err = errors.Join(err, serr)
	}
	if err == nil {
		logger.Info("stopped cleanly")
	}
	return err
}
