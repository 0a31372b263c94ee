package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/httpapi"
	_ "modernc.org/sqlite"
)

// Benchmarks of the ingest path, reported as events/s. Compare variants in
// one run:
//
//	go test ./internal/httpapi -run '^$' -bench . -benchtime 200000x -count 6 | tee new.txt
//	benchstat new.txt
//
// BenchmarkRawSQLite is the simplest thing a user could do with SQLite to
// deduplicate: the same rows with INSERT OR IGNORE into a table whose one
// index is UNIQUE (topic, event_id), 1,000 rows per transaction, WAL and
// synchronous=FULL, one connection. The HTTP benchmarks carry the whole
// service: HTTP, JSON, validation, queue, group commit, dedup, seq, the
// event-time index, counters, and the consumer. batch=1000/publishers=1 is
// the one-stream comparison with it.

// benchID is the event id of stream position n: random-looking like a
// UUIDv4 (so the dedup index is written at random places, as it is by real
// publishers), and the same for the same n.
func benchID(n int) string {
	r := rand.New(rand.NewPCG(uint64(n), 0x9e3779b97f4a7c15))
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
}

// benchEvent renders event number n of a stream in which one event in five
// repeats an earlier id (a publisher's retry).
func benchEvent(n int) string {
	id := n
	if n%5 == 4 {
		id = n / 2
	}
	return fmt.Sprintf(`{"topic":"bench.%d","event_id":"%s","timestamp":"2026-11-24T10:00:00.%06dZ","source":"bench","payload":{"n":%d,"user":"u-%d","amount":12.5}}`,
		id%8, benchID(id), id%1000000, id, id%977)
}

// bodies splits n events into request bodies of size events each.
func bodies(n, size int) [][]byte {
	var out [][]byte
	for start := 0; start < n; start += size {
		var b strings.Builder
		if size > 1 {
			b.WriteByte('[')
		}
		for i := start; i < min(start+size, n); i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString(benchEvent(i))
		}
		if size > 1 {
			b.WriteByte(']')
		}
		out = append(out, []byte(b.String()))
	}
	return out
}

func BenchmarkPublish(b *testing.B) {
	for _, c := range []struct{ batch, publishers int }{{1, 32}, {100, 8}, {1000, 8}, {1000, 1}} {
		b.Run(fmt.Sprintf("batch=%d/publishers=%d", c.batch, c.publishers), func(b *testing.B) {
			benchPublish(b, c.batch, c.publishers)
		})
	}
}

func benchPublish(b *testing.B, batch, publishers int) {
	t := &testing.T{}
	a := &app{t: t, path: filepath.Join(b.TempDir(), "bench.db")}
	a.start(httpapi.Config{})
	defer a.stop()
	reqs := bodies(b.N, batch)
	transport := &http.Transport{MaxIdleConnsPerHost: publishers, MaxConnsPerHost: publishers}
	client := &http.Client{Transport: transport}
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				resp, err := client.Post(a.srv.URL+"/publish", "application/json", bytes.NewReader(reqs[i]))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")

	b.ReportMetric(float64(len(reqs))/elapsed.Seconds(), "req/s")
}

// BenchmarkRawSQLite inserts the same rows with plain SQL into the minimal
// deduplicating schema: the figure the service is measured against.
func BenchmarkRawSQLite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=cache_size(-65536)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, event_id TEXT NOT NULL,
			ts INTEGER NOT NULL, source TEXT NOT NULL, payload BLOB NOT NULL, UNIQUE (topic, event_id))`); err != nil {
		b.Fatal(err)
	}
	type row struct {
		topic, id string
		ts        int64
		payload   []byte
	}
	rows := make([]row, b.N)
	for n := range rows {
		id := n
		if n%5 == 4 {
			id = n / 2
		}
		rows[n] = row{topic: fmt.Sprint("bench.", id%8), ts: int64(id), id: benchID(id),
			payload: []byte(fmt.Sprintf(`{"n":%d,"user":"u-%d","amount":12.5}`, id, id%977))}
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for s := 0; s < len(rows); s += 1000 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO events (topic, event_id, ts, source, payload) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for i := s; i < min(s+1000, len(rows)); i++ {
			r := rows[i]
			if _, err := stmt.ExecContext(ctx, r.topic, r.id, r.ts, "bench", r.payload); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
