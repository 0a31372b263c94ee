package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/eventagg/eventagg"
)

type statsResponse struct {
	Received        int64        `json:"received"`
	UniqueProcessed int64        `json:"unique_processed"`
	DuplicateDrop   int64        `json:"duplicate_dropped"`
	Conflicts       int64        `json:"conflicts"` // same key, other content: refused
	Rejected        int64        `json:"rejected"`
	Pending         int64        `json:"pending"`
	Stored          int64        `json:"stored"`
	Expired         int64        `json:"expired"` // stored events whose contents retention removed
	Topics          []string     `json:"topics"`  // the first StatsTopicNames by name
	TopicsTruncated bool         `json:"topics_truncated"`
	TopicCount      int64        `json:"topic_count"`
	PerTopic        []topicStats `json:"per_topic"` // the first StatsPerTopic by name
	PerTopicTrunc   bool         `json:"per_topic_truncated"`
	ActiveTopics    []activeStat `json:"active_topics"` // the StatsActive with most events in the last minute
	UptimeSeconds   float64      `json:"uptime_seconds"`
	Uptime          float64      `json:"uptime"` // alias kept for publishers' scripts
	StartedAt       time.Time    `json:"started_at"`
	Throughput      float64      `json:"throughput_per_second"` // valid events/s over the last minute
	LatencyMS       latencyMS    `json:"publish_latency_ms"`
	QueueDepth      int          `json:"queue_depth"`
	Subscribers     int          `json:"subscribers"`
	Store           string       `json:"store"`
}

type latencyMS struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// activeStat is a topic's counters with its events over about the last
// minute on this replica (a lower bound; see activeTopics).
type activeStat struct {
	topicStats
	LastMinute int64 `json:"events_last_minute"`
}

type topicStats struct {
	Topic      string     `json:"topic"`
	Received   int64      `json:"received"`
	Duplicates int64      `json:"duplicates"`
	Conflicts  int64      `json:"conflicts"`
	LastSeq    int64      `json:"last_seq"`
	Processed  int64      `json:"processed"`
	FirstTime  *time.Time `json:"first_timestamp,omitempty"`
	LastTime   *time.Time `json:"last_timestamp,omitempty"`
}

// How many topics /stats lists by name, and with their counters, each list
// also stopping at listBytes of names (names can be 255 bytes long). Past
// them the lists say they are truncated and GET /topics pages through the
// rest: /stats must stay small however many topics there are (the
// dashboard polls it every second), under 64 KiB in all.
const (
	StatsTopicNames = 1000
	StatsPerTopic   = 100
	StatsActive     = 20
	listBytes       = 16 << 10
)

// handleStats reports the persisted counters (which survive restarts) with
// this process's uptime, throughput and latency.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if err := s.waitProcessed(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.cfg.Store.Stats(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	topics, err := s.cfg.Store.Topics(r.Context(), eventagg.TopicQuery{Limit: StatsTopicNames + 1})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.cfg.Now()
	rate, p50, p99 := s.window.summary(now)
	up := now.Sub(s.started).Seconds()
	resp := statsResponse{
		Received: st.Received, UniqueProcessed: st.Processed, DuplicateDrop: st.Duplicates, Conflicts: st.Conflicts,
		Rejected: st.Rejected, Pending: st.Pending(), Stored: st.Stored, Expired: st.Expired,
		Topics: make([]string, 0, min(len(topics), StatsTopicNames)), TopicCount: st.TopicCount,
		PerTopic:      make([]topicStats, 0, min(len(topics), StatsPerTopic)),
		UptimeSeconds: up, Uptime: up, StartedAt: s.started.UTC(),
		Throughput: rate, LatencyMS: latencyMS{P50: ms(p50), P99: ms(p99)},
		QueueDepth: s.cfg.Queue.Queued(), Subscribers: s.Subscribers(), Store: s.cfg.StoreName,
	}
	// A scoped key sees only its topics here (the counters above are the
	// whole service's).
	scope := scopeOf(r)
	names := 0
	for i, t := range topics {
		if names += len(t.Topic); i == StatsTopicNames || names > listBytes {
			resp.TopicsTruncated = true
			break
		}
		if !scope.Allows(t.Topic) {
			continue
		}
		resp.Topics = append(resp.Topics, t.Topic)
		if i < StatsPerTopic {
			resp.PerTopic = append(resp.PerTopic, newTopicStats(t))
		}
	}
	resp.PerTopicTrunc = len(topics) > StatsPerTopic
	resp.ActiveTopics = make([]activeStat, 0, StatsActive)
	for _, a := range s.active.top(now, StatsActive) {
		if !scope.Allows(a.Topic) {
			continue
		}
		t, err := s.cfg.Store.Topic(r.Context(), a.Topic)
		if eventagg.ErrorCode(err) == eventagg.ENOTFOUND {
			continue // its events were not stored (a failed commit)
		} else if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp.ActiveTopics = append(resp.ActiveTopics, activeStat{newTopicStats(t), a.Events})
	}
	writeJSON(w, http.StatusOK, resp)
}

// statsWait bounds how long /stats waits for the consumer, and statsPoll
// is how often it looks meanwhile: the consumer of another replica may be
// the one processing, so there is no local signal to wait for.
const (
	statsWait = 2 * time.Second
	statsPoll = 5 * time.Millisecond
)

// waitProcessed gives /stats read-your-writes: it waits, at most statsWait,
// until the consumer has processed everything committed before the request
// began, so that a publisher that checks /stats after its publish answered
// sees its events in unique_processed and duplicate_dropped (they are in
// received at once). Past the bound it answers anyway, with pending > 0.
func (s *Server) waitProcessed(ctx context.Context) error {
	mark, err := s.cfg.Store.Watermark(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(statsWait)
	for {
		caught, err := s.cfg.Store.Caught(ctx, mark)
		if err != nil || caught || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(statsPoll):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func newTopicStats(t eventagg.TopicStats) topicStats {
	ts := topicStats{Topic: t.Topic, Received: t.Received, Duplicates: t.Duplicates, Conflicts: t.Conflicts, LastSeq: t.LastSeq, Processed: t.Processed}
	if !t.FirstTime.IsZero() {
		ts.FirstTime, ts.LastTime = &t.FirstTime, &t.LastTime
	}
	return ts
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// handleHealth answers in the shape the FastAPI aggregators use, so their
// health checks work unchanged: healthy when the store answers.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	now := s.cfg.Now().UTC().Format(time.RFC3339Nano)
	if err := s.cfg.Store.Ping(ctx); err != nil {
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy",
			"database": eventagg.ErrorMessage(err), "error": "store: " + eventagg.ErrorMessage(err), "timestamp": now})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "database": "ok", "timestamp": now})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is ready when the store answers and the queue has room: a
// load balancer then sends traffic elsewhere before publishers see 503s.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.logger.Warn("not ready: store", "err", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": "store: " + eventagg.ErrorMessage(err)})
		return
	}
	// The store may read fine yet refuse writes (disk full).
	if err := s.cfg.Queue.CommitError(); err != nil {
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": "store: cannot write: " + eventagg.ErrorMessage(err)})
		return
	}
	if s.cfg.Queue.Saturated() {
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": "queue: saturated"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
