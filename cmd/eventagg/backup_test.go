package main

import (
	"database/sql"
	"maps"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupWhilePublishing backs up a live database with the real binary
// while publishers keep going, then serves the copy: every event
// acknowledged before the backup began is there exactly once with its
// seq, seqs are gap-free, the counters add up, and the copy passes
// PRAGMA integrity_check.
func TestBackupWhilePublishing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	db, out := filepath.Join(dir, "live.db"), filepath.Join(dir, "copy.db")
	p := startServe(t, "--db", db, "--recent-keys", "64")
	ledger := &ackLedger{acked: map[string]int64{}}
	stop := runPublishers(t, crashPublishers, 0, ledger, func(int, int) string { return p.url })
	waitFor(t, func() bool { return ledger.count() >= 300 })
	ledger.mu.Lock()
	before := maps.Clone(ledger.acked)
	ledger.mu.Unlock()
	cmd := exec.Command(binary, "backup", "--db", db, out)
	msg, err := cmd.CombinedOutput()
	acksDuring := ledger.count()
	waitFor(t, func() bool { return ledger.count() >= acksDuring+100 }) // publishing goes on after it too
	stop()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, msg)
	}
	if err := p.terminate(); err != nil {
		t.Fatalf("live server: %v\n%s", err, p.log)
	}

	c, err := sql.Open("sqlite", out)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the copy: %q, %v", check, err)
	}
	c.Close()

	r := startServe(t, "--db", out)
	defer r.kill()
	s := r.waitProcessed()
	listing := map[string][]stored{}
	for _, topic := range crashTopics {
		listing[topic] = r.listAll(topic)
	}
	storedSeq, total := checkListing(t, listing)
	for key, seq := range before {
		if got, ok := storedSeq[key]; !ok || got != seq {
			t.Fatalf("%s, acknowledged with seq %d before the backup, is in the copy with seq %d (present: %v)", key, seq, got, ok)
		}
	}
	if s.Received != s.UniqueProcessed+s.DuplicateDrop+s.Conflicts || s.Conflicts != 0 || s.Stored != total || s.UniqueProcessed != total {
		t.Fatalf("the copy's stats do not add up: %+v, %d listed", s, total)
	}
	if !strings.Contains(string(msg), "backed up") {
		t.Errorf("backup said %q", msg)
	}
	t.Logf("%d acknowledged before the backup, %d in the copy, %d acknowledged in all", len(before), total, ledger.count())
}
