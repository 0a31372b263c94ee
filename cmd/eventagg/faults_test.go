package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestDiskFullAnswers503AndRecovers puts the database on a small tmpfs,
// publishes until the disk is full, and checks: publishes get 503 naming
// the fault, /readyz fails, reads keep working; once the filesystem grows,
// the service takes writes again without a restart and every acknowledged
// event is there. It needs to mount a tmpfs: CI runs as root, so there it
// fails rather than skips when it cannot.
func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount a tmpfs (%v: %s); CI must run the disk-full test, as root", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()

	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", db: filepath.Join(dir, "full.db"),
		maxBody: 16 << 20, maxEvents: 1000, maxQueued: 10000}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	payload := strings.Repeat("y", 2000)
	post := func(b, n int) (int, string) {
		var lines []string
		for i := 0; i < n; i++ {
			lines = append(lines, fmt.Sprintf(`{"topic":"full","event_id":"%d-%d","timestamp":"2026-11-24T10:00:00Z","source":"s","payload":{"p":%q}}`, b, i, payload))
		}
		resp, err := httpc.Post(svc.URL()+"/publish", "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	acked := map[string]bool{}
	full := ""
	for b := 0; b < 100 && full == ""; b++ {
		switch code, body := post(b, 100); code {
		case 200:
			for i := 0; i < 100; i++ {
				acked[fmt.Sprintf("%d-%d", b, i)] = true
			}
		case 503:
			full = body
		default:
			t.Fatalf("status %d: %s", code, body)
		}
	}
	if !strings.Contains(full, "disk full") {
		t.Fatalf("no 503 naming a full disk; last answer %q", full)
	}
	if resp, err := httpc.Get(svc.URL() + "/readyz"); err != nil || resp.StatusCode != 503 {
		t.Fatalf("readyz on a full disk: %v %v", resp.StatusCode, err)
	}
	p := &proc{t: t, url: svc.URL()}
	if got := len(p.listAll("full")); got != len(acked) {
		t.Fatalf("reads on a full disk: %d events, %d acknowledged", got, len(acked))
	}

	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v %s", err, out)
	}
	waitFor(t, func() bool {
		resp, err := httpc.Get(svc.URL() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if code, body := post(1000, 10); code != 200 {
		t.Fatalf("after the disk grew: %d %s", code, body)
	}
	for i := 0; i < 10; i++ {
		acked[fmt.Sprintf("1000-%d", i)] = true
	}
	stored := map[string]bool{}
	for _, e := range p.listAll("full") {
		stored[e.EventID] = true
	}
	for id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged %s lost", id)
		}
	}
}

// A file that is not a database stops the start with a message naming the
// file and what to do.
func TestCorruptDatabaseFileAtStart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "corrupt.db")
	os.WriteFile(db, []byte(strings.Repeat("this is not a database\n", 500)), 0o600)
	var stderr syncBuffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", db}, env(nil), nil, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), db) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("err %v", err)
	}
}

// Another process holding the database's write lock: publishes wait out the
// busy timeout, then get 503 naming the lock; when the lock goes, the
// service writes again by itself. The consumer shares the one write
// connection: were it to begin a pass inside the lock, it would hold that
// connection for its own busy timeout first and the publish would meet the
// store timeout instead. It has nothing to do once the first event is
// processed, and an idle consumer's passes only read.
func TestLockedDatabaseAnswers503AndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the busy timeout")
	}
	db := filepath.Join(t.TempDir(), "locked.db")
	svc, err := startService(context.Background(), serveConfig{addr: "127.0.0.1:0", db: db,
		maxBody: 1 << 20, maxEvents: 10, maxQueued: 100}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.stop(10 * time.Second)
	publishLines(t, svc.URL(), line("lock", "1"))
	(&proc{t: t, url: svc.URL()}).waitProcessed()

	// The other holder: the sqlite3 command-line shell would do the same.
	other, err := sql.Open("sqlite", db+"?_pragma=busy_timeout(1000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	resp, err := httpc.Post(svc.URL()+"/publish", "application/json", strings.NewReader(line("lock", "2")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "locked") {
		t.Fatalf("publish while locked: %d %s", resp.StatusCode, body)
	}
	conn.ExecContext(context.Background(), "ROLLBACK")
	conn.Close()
	waitFor(t, func() bool {
		resp, err := httpc.Post(svc.URL()+"/publish", "application/json", strings.NewReader(line("lock", "2")))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
