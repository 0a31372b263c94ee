package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// BenchmarkAppendTopics is the many-topics figure at the store level, the
// same for every store: groups of 800 random-id events (8 publishers ×
// batches of 100) spread over 8 or 100,000 topics, each group appended and
// then processed, as the pipeline does. open returns a fresh, empty store.
func BenchmarkAppendTopics(b *testing.B, open func(b *testing.B) eventagg.Store) {
	for _, topics := range []int{8, 100_000} {
		b.Run(fmt.Sprintf("topics=%d", topics), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, uint64(topics)))
			n := 0
			for i := 0; i < b.N; i++ {
				events := make([]eventagg.Event, 800)
				for j := range events {
					events[j] = eventagg.Event{Topic: fmt.Sprint("bench.", rng.IntN(topics)),
						EventID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), Source: "bench",
						Timestamp: base.Add(time.Duration(n) * time.Millisecond), Payload: json.RawMessage(`{"n":1}`)}
					n++
				}
				if _, err := s.Append(ctx, events, 0); err != nil {
					b.Fatal(err)
				}
				drain(b, s, 1000)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
