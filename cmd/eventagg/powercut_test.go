package main

import (
	"database/sql"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg/internal/faultfs"
)

// TestPowerCutSQLiteLosesNothingAcknowledged serves from a SQLite file on a
// faultfs mount, which keeps every write since the file's last fsync in a
// volatile layer, and cuts the power five times under concurrent
// publishers: SIGKILL the server, unmount, drop what was not synced, mount
// again, restart. A SIGKILL alone keeps the page cache, so only this shows
// a missing or misplaced fsync. Only a cut that dropped unsynced bytes of
// the database or its WAL counts (about one in five lands inside a commit,
// between its WAL writes and their fsync). Afterwards every acknowledged
// event is stored exactly once with its seq, seqs are gap-free, counters
// add up and the file passes PRAGMA integrity_check.
func TestPowerCutSQLiteLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary on a FUSE mount")
	}
	ledger, p, db, err := powerCuts(t, binary, 5)
	if err != nil {
		t.Fatal(err)
	}
	verifyCrashState(t, p, ledger)
	if err := p.terminate(); err != nil {
		t.Fatal(err)
	}
	// Checked on a copy off the mount: this process serves the mount, and
	// SQLite here would map the -shm file from it, a page fault the
	// garbage collector's stop-the-world cannot interrupt while the
	// process's own FUSE server is stopped with it (a deadlock that hung
	// CI once). cp, another process, reads the mount as any reader would.
	copied := filepath.Join(t.TempDir(), "power.db")
	if out, err := exec.Command("sh", "-c", `for f in "$1"*; do cp "$f" "$2${f#"$1"}"; done`, "cp", db, copied).CombinedOutput(); err != nil {
		t.Fatalf("copy the database off the mount: %v\n%s", err, out)
	}
	check, err := sql.Open("sqlite", copied)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	var result string
	if err := check.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		t.Fatalf("integrity_check: %q %v", result, err)
	}
}

// TestPowerCutCatchesADurabilityBug proves the power-cut test has teeth: a
// build whose SQLite store runs with synchronous=OFF (set at link time, a
// switch no flag or environment variable reaches) acknowledges events that
// a power cut then takes away, and the same cycles see it: acknowledged
// events are missing, or the server cannot start on what is left.
func TestPowerCutCatchesADurabilityBug(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a weakened build on a FUSE mount")
	}
	ledger, p, _, err := powerCuts(t, weakBuild(t, "sqlite.synchronous", "OFF"), 2)
	if err != nil {
		t.Logf("the weakened build does not start after the cuts: %v", err)
		return
	}
	lost := lostAcks(p, ledger)
	if lost == 0 {
		t.Fatalf("synchronous=OFF lost none of %d acknowledged events: the power-cut test cannot see a missing fsync", len(ledger.acked))
	}
	t.Logf("synchronous=OFF lost %d of %d acknowledged events", lost, len(ledger.acked))
}

// lostAcks counts the acknowledged events p does not hold with the seq
// they were acknowledged with.
func lostAcks(p *proc, ledger *ackLedger) int {
	stored := map[string]int64{}
	for _, topic := range crashTopics {
		for _, e := range p.listAll(topic) {
			stored[topic+"/"+e.EventID] = e.Seq
		}
	}
	lost := 0
	for key, seq := range ledger.acked {
		if got, ok := stored[key]; !ok || got != seq {
			lost++
		}
	}
	return lost
}

// weakBuild builds the binary with a durability switch set at link time
// (-X name=value), a switch no flag or environment variable reaches.
func weakBuild(t *testing.T, name, value string) string {
	t.Helper()
	weak := filepath.Join(t.TempDir(), "eventagg-weak")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/eventagg/eventagg/internal/store/"+name+"="+value, "-o", weak, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the weakened binary: %v\n%s", err, out)
	}
	return weak
}

// powerCuts runs publishers against bin serving from a SQLite file on a
// faultfs mount and cuts the power cycles times; a cut that dropped
// nothing does not count. It returns the acknowledgements, a server
// started on what survived the last cut, and the file; the error says a
// server would not start after a cut.
func powerCuts(t *testing.T, bin string, cycles int) (*ackLedger, *proc, string, error) {
	t.Helper()
	mnt, backing := t.TempDir(), t.TempDir()
	fsys := faultfs.MountForTest(t, mnt, backing)
	db := filepath.Join(mnt, "power.db")
	ledger := &ackLedger{acked: map[string]int64{}}
	p, err := launch(t, bin, "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	for cut, tries := 0, 0; cut < cycles; tries++ {
		if tries == 20*cycles {
			t.Fatalf("only %d of %d cuts dropped unsynced bytes in %d tries", cut, cycles, tries)
		}
		var lost faultfs.Cut
		crashRound(t, ledger, tries*crashPublishers, []*proc{p}, func(int, int) string { return p.url }, func() {
			fsys.Freeze()
			p.kill()
			if err := fsys.Unmount(); err != nil {
				t.Fatalf("unmount: %v", err)
			}
			lost = fsys.PowerCut()
			fsys = faultfs.MountForTest(t, mnt, backing)
		})
		// The -shm file is SQLite's shared-memory index, rebuilt from the
		// WAL at open and never synced: what it loses says nothing.
		dropped := lost.ByFile["power.db"] + lost.ByFile["power.db-wal"]
		t.Logf("cut %d: dropped %d unsynced bytes of the database and its WAL (%v), took back entries %q", tries+1, dropped, lost.ByFile, lost.Entries)
		if dropped > 0 {
			cut++
		}
		if p, err = launch(t, bin, "--db", db); err != nil {
			return ledger, nil, db, err
		}
	}
	return ledger, p, db, nil
}
