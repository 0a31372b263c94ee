package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/eventagg/eventagg"
)

// BenchmarkTopicLabels is what each labelled topic costs: the heap its
// three counter series hold (received, duplicate, conflict) and the bytes
// it adds to every scrape of /metrics. The cap (--metrics-max-topics)
// bounds both; docs/api.md quotes the figures.
//
//	go test ./internal/metrics -run '^$' -bench TopicLabels -benchtime 3x
func BenchmarkTopicLabels(b *testing.B) {
	const topics = 1000
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := New(topics, quiet)
		for k := range topics {
			t := fmt.Sprintf("customer-%08d", k)
			m.Event(t, eventagg.Accepted, "")
			m.Event(t, eventagg.Duplicate, "")
			m.Event(t, eventagg.Conflict, "")
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		empty := scrapeSize(b, New(topics, quiet))
		full := scrapeSize(b, m)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/topics, "heap-B/topic")
		b.ReportMetric(float64(full-empty)/topics, "scrape-B/topic")
		runtime.KeepAlive(m)
	}
}

// quiet is what the gauges read: nothing, so the scrape holds the counters.
var quiet = Sources{Subscribers: func() int { return 0 }, Store: noStats{}}

type noStats struct{ eventagg.Store }

func (noStats) Stats(context.Context) (eventagg.Stats, error) { return eventagg.Stats{}, nil }

func scrapeSize(b *testing.B, m *Metrics) int64 {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	n, err := io.Copy(io.Discard, rec.Body)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
