package sqlite_test

import (
	"context"
	"fmt"
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

// BenchmarkAppendTopics: see storetest.BenchmarkAppendTopics.
func BenchmarkAppendTopics(b *testing.B) {
	storetest.BenchmarkAppendTopics(b, func(b *testing.B) eventagg.Store {
		return MustOpen(b, filepath.Join(b.TempDir(), "bench.db"))
	})
}
