package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// BenchmarkAppend measures one Append (one transaction, one fsync) of a
// group of the given size: what a group commit costs the writer.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 32, 1000} {
		b.Run(fmt.Sprintf("group=%d", size), func(b *testing.B) {
			s := MustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
			defer s.Close()
			n := 0
			for i := 0; i < b.N; i++ {
				events := make([]eventagg.Event, size)
				for j := range events {
					events[j] = storetest.Ev(fmt.Sprint("t", n%8), fmt.Sprint(n), n)
					n++
				}
				if _, err := s.Append(context.Background(), events, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendTopics measures the writer and the consumer with groups of
// 800 events (8 publishers × batches of 100) with random ids spread over 8
// or 100,000 topics: what a group costs as the topics it touches grow.
func BenchmarkAppendTopics(b *testing.B) {
	for _, topics := range []int{8, 100_000} {
		b.Run(fmt.Sprintf("topics=%d", topics), func(b *testing.B) {
			s := MustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
			defer s.Close()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, uint64(topics)))
			n := 0
			for i := 0; i < b.N; i++ {
				events := make([]eventagg.Event, 800)
				for j := range events {
					events[j] = storetest.Ev(fmt.Sprint("bench.", rng.IntN(topics)), fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), n)
					n++
				}
				if _, err := s.Append(ctx, events, 0); err != nil {
					b.Fatal(err)
				}
				for {
					k, err := s.Process(ctx, 1000)
					if err != nil {
						b.Fatal(err)
					}
					if k == 0 {
						break
					}
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
