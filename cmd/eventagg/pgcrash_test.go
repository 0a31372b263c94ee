package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

// TestPostgresCrashLosesNothingAcknowledged SIGKILLs PostgreSQL itself
// (a cluster of the test's own) while publishers hammer two replicas, three
// times, and restarts it, which recovers from its WAL. Groups commit
// without waiting for their fsync and are acknowledged only after the WAL is
// flushed past them: if an acknowledgement ever came before that, the group
// would still sit in PostgreSQL's shared memory at the kill and be lost, or
// come back with another seq. Then every acknowledged event is stored once
// with the seq it was acknowledged with, seqs are gap-free, each event was
// processed once and /stats adds up.
func TestPostgresCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crashes a PostgreSQL cluster of its own")
	}
	cluster := pgtest.StartCluster(t)
	replicas := []*proc{startServe(t, "--store", cluster.URL()), startServe(t, "--store", cluster.URL())}
	ledger := &ackLedger{acked: map[string]int64{}}
	const publishers, kills = 6, 3
	for round := 0; round < kills; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		target := ledger.count() + 150 // acks this round must see before the kill
		for i := 0; i < publishers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				pub := &publisher{id: i + round*publishers}
				for ctx.Err() == nil {
					body, keys := pub.body()
					p := replicas[(i+pub.batch)%len(replicas)]
					req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/publish", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := httpc.Do(req)
					if err != nil {
						continue
					}
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr == nil && resp.StatusCode == 200 {
						ledger.record(keys, b)
						pub.batch++
					}
					// 503 while the database is down: not acknowledged,
					// sent again.
				}
			}(i)
		}
		for ledger.count() < target {
			for _, p := range replicas {
				select {
				case err := <-p.exited:
					t.Fatalf("a replica died: %v\n%s", err, p.log)
				default:
				}
			}
			waitSome()
		}
		cluster.Kill()
		cancel()
		wg.Wait()
		cluster.Start()
		for _, p := range replicas {
			waitFor(t, func() bool {
				resp, err := httpc.Get(p.url + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == 200
			})
		}
	}
	verifyCrashState(t, replicas[0], ledger)
	var s0, s1 stats
	replicas[0].getJSON("/stats", &s0)
	replicas[1].getJSON("/stats", &s1)
	if s0.Received != s1.Received || s0.Stored != s1.Stored || s0.UniqueProcessed != s1.UniqueProcessed {
		t.Fatalf("replicas disagree: %+v and %+v", s0, s1)
	}
}
