package main

import (
	"sync"
	"testing"

	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

// TestReplicasOnPostgres runs three real `eventagg serve` processes on one
// database. Publishers spread overlapping events over all three (failing
// over to the next when one does not answer, as a load balancer would); one
// replica is SIGKILLed and restarted under load. Then every acknowledged
// event is stored once with the seq it was acknowledged with, seqs are
// gap-free, each event was processed once, and every replica's /stats agree.
func TestReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three real processes")
	}
	url := pgtest.FreshSchema(t)
	var mu sync.Mutex
	replicas := make([]*proc, 3)
	for i := range replicas {
		replicas[i] = startServe(t, "--store", url)
	}
	replicaURL := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return replicas[i%3].url
	}
	ledger := &ackLedger{acked: map[string]int64{}}
	// Each attempt goes to the next replica, as a round-robin load
	// balancer would send it; a failed one is sent again.
	stop := runPublishers(t, 6, 0, ledger, func(i, attempt int) string { return replicaURL(i + attempt) })
	waitFor(t, func() bool { return ledger.count() >= 100 })
	replicas[0].kill()
	waitFor(t, func() bool { return ledger.count() >= 200 })
	restarted := startServe(t, "--store", url)
	mu.Lock()
	replicas[0] = restarted
	mu.Unlock()
	waitFor(t, func() bool { return ledger.count() >= 300 })
	stop()

	verifyCrashState(t, replicas[1], ledger)
	want := replicas[1].waitProcessed()
	for i, r := range replicas {
		got := r.waitProcessed()
		if got.Received != want.Received || got.UniqueProcessed != want.UniqueProcessed ||
			got.DuplicateDrop != want.DuplicateDrop || got.Stored != want.Stored {
			t.Fatalf("replica %d stats %+v differ from %+v", i, got, want)
		}
	}
}
