package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/faultfs"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

// TestPowerCutPostgresLosesNothingAcknowledged runs a PostgreSQL cluster
// of the test's own on a faultfs mount of its data directory and cuts the
// power five times while publishers hammer two replicas: freeze the mount,
// SIGKILL every PostgreSQL process, drop what was not synced, mount again,
// restart the cluster (which recovers from its WAL); the replicas stay up
// and reconnect by themselves. Groups commit without waiting for their
// WAL's fsync and are acknowledged only after the flush wait: an
// acknowledgement before the fsync would be lost here. Only a cut that
// dropped unsynced WAL counts. Afterwards every acknowledged event is
// stored once with its seq, seqs are gap-free, counters add up and the
// replicas agree.
//
// Directory entries survive only their directory's fsync, as on the SQLite
// mount: PostgreSQL creates relation files without syncing their directory
// and so relies on WAL replay (which recreates them) until a checkpoint,
// and syncs the whole data directory before it recovers from a crash.
func TestPowerCutPostgresLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL on a FUSE mount")
	}
	ledger, replicas := pgPowerCuts(t, binary, 5)
	verifyCrashState(t, replicas[0], ledger)
	replicasAgree(t, replicas[0], replicas[1])
}

// TestPowerCutPostgresCatchesADurabilityBug proves that test has teeth: a
// build that acknowledges without the flush wait (set at link time) loses
// acknowledged events to the same cuts.
func TestPowerCutPostgresCatchesADurabilityBug(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a weakened build and PostgreSQL on a FUSE mount")
	}
	ledger, replicas := pgPowerCuts(t, weakBuild(t, "postgres.flushWait", "skip"), 2)
	lost := lostAcks(replicas[0], ledger)
	if lost == 0 {
		t.Fatalf("without the flush wait none of %d acknowledged events was lost: the power-cut test cannot see an acknowledgement before the fsync", len(ledger.acked))
	}
	t.Logf("without the flush wait %d of %d acknowledged events were lost", lost, len(ledger.acked))
}

// pgPowerCuts runs two replicas of bin on a cluster served from a faultfs
// mount and cuts the power cycles times (a cut that dropped no WAL does not
// count); it returns the acknowledgements and the replicas, on the cluster
// as it came back from the last cut.
func pgPowerCuts(t *testing.T, bin string, cycles int) (*ackLedger, []*proc) {
	t.Helper()
	cluster := pgtest.InitCluster(t)
	mnt := filepath.Join(cluster.Dir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	mount := func() *faultfs.FS {
		fsys := faultfs.MountForTest(t, mnt, cluster.DataDir())
		// Cleanups run last first: this kills the cluster before the
		// mount under it goes.
		t.Cleanup(func() {
			if cluster.Running() {
				cluster.Kill()
			}
		})
		return fsys
	}
	fsys := mount()
	cluster.ServeFrom(mnt)
	cluster.Start()
	var replicas []*proc
	for range 2 {
		p, err := launch(t, bin, "--store", cluster.URL())
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, p)
	}
	ledger := &ackLedger{acked: map[string]int64{}}
	pick := func(pub, attempt int) string { return replicas[(pub+attempt)%len(replicas)].url }
	for cut, tries := 0, 0; cut < cycles; tries++ {
		if tries == 20*cycles {
			t.Fatalf("only %d of %d cuts dropped unsynced WAL in %d tries", cut, cycles, tries)
		}
		var lost faultfs.Cut
		crashRound(t, ledger, tries*crashPublishers, replicas, pick, func() {
			fsys.Freeze()
			cluster.Kill()
			if err := fsys.Unmount(); err != nil {
				t.Fatalf("unmount: %v", err)
			}
			lost = fsys.PowerCut()
			fsys = mount()
		})
		var wal int64
		for name, n := range lost.ByFile {
			if isWALSegment(name) {
				wal += n
			}
		}
		t.Logf("cut %d: dropped %d unsynced bytes of WAL, %d in all, took back entries %q", tries+1, wal, lost.Bytes, lost.Entries)
		if wal > 0 {
			cut++
		}
		cluster.Start()
		for _, p := range replicas {
			waitFor(t, p.ready)
		}
	}
	return ledger, replicas
}

// isWALSegment says whether name is a PostgreSQL WAL segment's (24 hex
// digits: timeline, log, segment).
func isWALSegment(name string) bool {
	return len(name) == 24 && strings.Trim(name, "0123456789ABCDEF") == ""
}
