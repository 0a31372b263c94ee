package main

import (
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
	const kills = 3
	for round := 0; round < kills; round++ {
		pick := func(pub, attempt int) string { return replicas[(pub+attempt)%len(replicas)].url }
		crashRound(t, ledger, round*crashPublishers, replicas, pick, cluster.Kill)
		cluster.Start()
		for _, p := range replicas {
			waitFor(t, p.ready)
		}
	}
	verifyCrashState(t, replicas[0], ledger)
	replicasAgree(t, replicas[0], replicas[1])
}

// replicasAgree checks that two replicas of one database report the same
// counters.
func replicasAgree(t *testing.T, a, b *proc) {
	t.Helper()
	var sa, sb stats
	a.getJSON("/stats", &sa)
	b.getJSON("/stats", &sb)
	if sa.Received != sb.Received || sa.Stored != sb.Stored || sa.UniqueProcessed != sb.UniqueProcessed {
		t.Fatalf("replicas disagree: %+v and %+v", sa, sb)
	}
}
