package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// TestIdlePassesDoNotWaitForTheWriteLock: the consumer and retention look
// for work on their own every second or so. With nothing to do they must
// not wait for the write lock: another process holding it would keep them
// on the one write connection for the busy timeout (10 s), and a publish
// behind them would wait out two timeouts and meet the store timeout.
func TestIdlePassesDoNotWaitForTheWriteLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lock.db")
	s := mustOpenKeys(t, path, 0)
	defer s.Close()
	if _, err := s.Append(ctx, []eventagg.Event{storetest.Ev("t", "1", 0)}, 0); err != nil {
		t.Fatal(err)
	}
	drain(t, s)

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")

	// Well inside the busy timeout: a pass that waits for the lock fails.
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if n, err := s.Process(short, 100); n != 0 || err != nil {
		t.Errorf("consumer pass with nothing pending, under another's lock: %d, %v", n, err)
	}
	if n, err := s.Expire(short, time.Now().Add(-time.Hour), 100); n != 0 || err != nil {
		t.Errorf("retention pass with nothing due, under another's lock: %d, %v", n, err)
	}
}
