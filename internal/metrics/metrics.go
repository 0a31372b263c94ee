// Package metrics exposes eventagg's Prometheus metrics. Topic labels are
// bounded: topics are user input, and an unbounded label would let any
// publisher grow the server's memory and every scrape without limit.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OtherTopic is the label of every topic beyond the cap.
const OtherTopic = "_other"

// Sources are the live values the gauges read at scrape time.
type Sources struct {
	Subscribers func() int
	// Fanout gives the events delivered to subscribers from the feed's
	// ring and from the store, and how far the furthest-behind is.
	Fanout func() (fromRing, fromStore, maxLag int64)
	Store  eventagg.Store // consumer lag = stored - processed
}

// Metrics holds the collectors and the topic-label cap.
type Metrics struct {
	reg        *prometheus.Registry
	received   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	conflicts  *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	publish    prometheus.Histogram
	batch      prometheus.Histogram

	queue func() int // set by SetQueue once the pipeline exists

	mu        sync.Mutex
	maxTopics int
	topics    map[string]bool
}

// New registers every metric. maxTopics is how many distinct topics get a
// label of their own; the rest share OtherTopic.
func New(maxTopics int, src Sources) *Metrics {
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		maxTopics: maxTopics,
		topics:    map[string]bool{},
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventagg_events_received_total", Help: "Valid events received, duplicates included.",
		}, []string{"topic"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventagg_events_duplicate_total", Help: "Events dropped as duplicates of a stored (topic, event_id).",
		}, []string{"topic"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventagg_events_conflict_total", Help: "Events refused as conflicts: a stored (topic, event_id) with other content.",
		}, []string{"topic"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventagg_events_rejected_total", Help: "Invalid events, by the field that failed.",
		}, []string{"reason"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventagg_publish_duration_seconds", Help: "Time to answer POST /publish, commit included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventagg_commit_batch_size", Help: "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
	}
	m.reg.MustRegister(m.received, m.duplicates, m.conflicts, m.rejected, m.publish, m.batch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventagg_queue_depth", Help: "Events waiting for the writer.",
	}, func() float64 {
		if m.queue == nil {
			return 0
		}
		return float64(m.queue())
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventagg_subscribers", Help: "Open /subscribe streams.",
	}, func() float64 { return float64(src.Subscribers()) }))
	if src.Fanout != nil {
		for _, from := range []string{"ring", "store"} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "eventagg_subscriber_deliveries_total", Help: "Events sent to /subscribe streams, by where they came from: the ring of recent events every live stream shares, or the store (streams behind the ring).",
				ConstLabels: prometheus.Labels{"from": from},
			}, func() float64 {
				ring, store, _ := src.Fanout()
				if from == "ring" {
					return float64(ring)
				}
				return float64(store)
			}))
		}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "eventagg_subscriber_lag_max_events", Help: "Events the furthest-behind /subscribe stream is behind the end.",
		}, func() float64 { _, _, lag := src.Fanout(); return float64(lag) }))
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventagg_consumer_lag_events", Help: "Stored events the consumer has not processed yet (-1: store unreachable).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := src.Store.Stats(ctx)
		if err != nil {
			return -1
		}
		return float64(st.Pending())
	}))
	return m
}

// SetQueue names the pipeline's queue length, which exists only after the
// pipeline (which reports commits here) has started.
func (m *Metrics) SetQueue(depth func() int) { m.queue = depth }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// topicLabel is topic while under the cap, else OtherTopic.
func (m *Metrics) topicLabel(topic string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.topics[topic] {
		return topic
	}
	if len(m.topics) < m.maxTopics {
		m.topics[topic] = true
		return topic
	}
	return OtherTopic
}

// Event records the verdict on one event; reason is the rejection's text.
func (m *Metrics) Event(topic string, status eventagg.Status, reason string) {
	switch status {
	case eventagg.Rejected:
		m.rejected.WithLabelValues(rejectReason(reason)).Inc()
	case eventagg.Duplicate:
		t := m.topicLabel(topic)
		m.received.WithLabelValues(t).Inc()
		m.duplicates.WithLabelValues(t).Inc()
	case eventagg.Conflict:
		t := m.topicLabel(topic)
		m.received.WithLabelValues(t).Inc()
		m.conflicts.WithLabelValues(t).Inc()
	default:
		m.received.WithLabelValues(m.topicLabel(topic)).Inc()
	}
}

// Publish records the time one POST /publish took.
func (m *Metrics) Publish(d time.Duration) { m.publish.Observe(d.Seconds()) }

// Commit records the size of one group commit.
func (m *Metrics) Commit(events int) { m.batch.Observe(float64(events)) }

// rejectReason maps an error message to a bounded label: the field it
// names, or "malformed" / "other".
func rejectReason(msg string) string {
	field, _, _ := strings.Cut(msg, ":")
	switch field {
	case "topic", "event_id", "timestamp", "source", "payload":
		return field
	case "event":
		return "not_an_object"
	}
	if strings.HasPrefix(field, "line ") {
		return "malformed"
	}
	return "other"
}
