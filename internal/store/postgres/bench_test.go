package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
	"github.com/eventagg/eventagg/internal/store/storetest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Side by side, one run (events/s):
//
//	EVENTAGG_TEST_POSTGRES_URL=… go test ./internal/store/postgres -run '^$' -bench . -benchtime 200000x -count 6 | tee pg.txt
//	benchstat pg.txt
//
// RawUnnest inserts 1,000-row batches straight into the events table with
// one unnest INSERT per transaction; Append is the store's whole group
// commit on the same rows (topic locks, duplicate lookup, seq, counters),
// 20% of them repeats. Both on `conns` concurrent connections.

func benchEvents(n int) []eventagg.Event {
	events := make([]eventagg.Event, n)
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for i := range events {
		id := i
		if i%5 == 4 {
			id = i / 2
		}
		events[i] = eventagg.Event{Topic: fmt.Sprint("bench.", id%8), EventID: fmt.Sprintf("evt-%09d", id),
			Timestamp: base.Add(time.Duration(id) * time.Millisecond), Source: "bench",
			Payload: json.RawMessage(fmt.Sprintf(`{"n":%d,"user":"u-%d","amount":12.5}`, id, id%977))}
	}
	return events
}

// runBatches hands out size-event slices of events to conns workers.
func runBatches(b *testing.B, events []eventagg.Event, conns, size int, fn func([]eventagg.Event) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(int64(size))) - size
				if i >= len(events) {
					return
				}
				if err := fn(events[i:min(i+size, len(events))]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(len(events))/time.Since(start).Seconds(), "events/s")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func BenchmarkRawUnnest(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) { benchRaw(b, conns, 1000) })
	}
}

// BenchmarkRawUnnestGroupSize is BenchmarkAppendGroupSize without the store:
// what one and three connections do on this machine with no locks, no
// lookups and no counters, so that the store's three-to-one ratio can be
// read against the database's own.
func BenchmarkRawUnnestGroupSize(b *testing.B) { byGroupSize(b, benchRaw) }

func benchRaw(b *testing.B, conns, size int) {
	url := pgtest.FreshSchema(b)
	s := mustOpen(b, url) // creates the schema
	s.Close()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	events := benchEvents(b.N)
	var seq atomic.Int64
	b.ResetTimer()
	runBatches(b, events, conns, size, func(batch []eventagg.Event) error {
		var tids, seqs, ts []int64
		var ids, sources []string
		var payloads [][]byte
		for _, e := range batch {
			tids = append(tids, int64(len(e.Topic)))
			seqs = append(seqs, seq.Add(1))
			ids, ts = append(ids, e.EventID), append(ts, e.Timestamp.UnixMicro())
			sources, payloads = append(sources, e.Source), append(payloads, e.Payload)
		}
		_, err := pool.Exec(context.Background(), `INSERT INTO events (topic_id, seq, event_id, ts, received_at, source, payload)
			SELECT t, s, i, ts, ts, so, p FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::bytea[]) AS u(t, s, i, ts, so, p)
			ON CONFLICT DO NOTHING`, tids, seqs, ids, ts, sources, payloads)
		return err
	})
}

func BenchmarkAppend(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) { benchAppend(b, conns, 1000) })
	}
}

// BenchmarkAppendGroupSize shows the fixed cost of a group: the same events
// in groups of 10, 100 and 1,000 on one connection, and on three (three
// replicas' writers sharing the topics).
func BenchmarkAppendGroupSize(b *testing.B) { byGroupSize(b, benchAppend) }

// byGroupSize runs bench for groups of 10, 100 and 1,000 on 1 and 3
// connections.
func byGroupSize(b *testing.B, bench func(b *testing.B, conns, size int)) {
	for _, conns := range []int{1, 3} {
		for _, size := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("conns=%d/group=%d", conns, size), func(b *testing.B) { bench(b, conns, size) })
		}
	}
}

func benchAppend(b *testing.B, conns, size int) {
	s := mustOpen(b, pgtest.FreshSchema(b))
	defer s.Close()
	events := benchEvents(b.N)
	b.ResetTimer()
	runBatches(b, events, conns, size, func(batch []eventagg.Event) error {
		_, err := s.Append(context.Background(), batch, 0)
		return err
	})
}

// BenchmarkAppendTopics: see storetest.BenchmarkAppendTopics.
//
//	EVENTAGG_TEST_POSTGRES_URL=… go test ./internal/store/postgres -run '^$' -bench AppendTopics -benchtime 250x
func BenchmarkAppendTopics(b *testing.B) {
	storetest.BenchmarkAppendTopics(b, func(b *testing.B) eventagg.Store { return mustOpen(b, pgtest.FreshSchema(b)) })
}
