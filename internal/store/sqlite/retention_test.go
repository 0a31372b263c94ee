package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/sqlite"
)

func expireAll(t *testing.T, s *sqlite.Store, before time.Time) int {
	t.Helper()
	total := 0
	for {
		n, err := s.Expire(context.Background(), before, 64)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// TestRetentionKeepsKeys: events committed before the horizon lose their
// rows once applied and merged; their keys and seqs stay (a retry is a
// duplicate of its seq, each topic's seq goes on), listings start at the
// first retained event and say how many they skipped, and the counters
// keep adding up.
func TestRetentionKeepsKeys(t *testing.T) {
	ctx := context.Background()
	s := mustOpenKeys(t, filepath.Join(t.TempDir(), "ret.db"), 1<<20)
	defer s.Close()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return clock }

	old := uuidEvents(0, 300) // three topics, 100 each
	first := appendAll(t, s, old)
	clock = clock.Add(time.Hour)
	horizon := clock
	if n := expireAll(t, s, horizon); n != 0 {
		t.Fatalf("expired %d events the consumer has not applied", n)
	}
	drain(t, s)
	// Their keys are still only in memory: the first pass starts a merge
	// and expires nothing; the merge ends before the next pass can start
	// (it takes the same lock), so the next expires them, all but the
	// newest, which stays until another event arrives (or the ids would
	// start again at 1).
	for n := 0; n == 0; {
		n = expireAll(t, s, horizon)
		if n != 0 && n != 299 {
			t.Fatalf("expired %d, want 299", n)
		}
	}
	recent := uuidEvents(300, 30)
	recentOut := appendAll(t, s, recent)
	drain(t, s)
	if err := s.MergeNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := expireAll(t, s, horizon); n != 1 {
		t.Fatalf("expired %d more, want the last old one only, none committed after the horizon", n)
	}

	checkAllDuplicates(t, s, old, first)
	for i, a := range recentOut {
		if want := int64(100 + i/3 + 1); a.Seq != want || a.Duplicate {
			t.Fatalf("recent event %d: %+v, want seq %d", i, a, want)
		}
	}
	page, err := s.Events(ctx, eventagg.EventQuery{Topic: "t1", Order: eventagg.ByArrival, Limit: 100})
	if err != nil || len(page.Events) != 10 || page.Events[0].Seq != 101 || page.Skipped != 100 {
		t.Fatalf("t1 from the start: %d events, first %+v, skipped %d, %v", len(page.Events), page.Events, page.Skipped, err)
	}
	page, err = s.Events(ctx, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 100, After: eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: 250}})
	if err != nil || len(page.Events) != 30 || page.Events[0].EventID != recent[0].EventID || page.Skipped != 50 {
		t.Fatalf("all topics after id 250: %d events, skipped %d, %v", len(page.Events), page.Skipped, err)
	}
	ts, err := s.Topic(ctx, "t1")
	if err != nil || ts.LastSeq != 110 || ts.Processed != 110 || ts.Received != 210 {
		t.Fatalf("topic t1 = %+v, %v", ts, err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Expired != 300 || st.Stored != 330 || st.Processed != 330 || st.Received != st.Processed+st.Duplicates {
		t.Fatalf("stats %+v, %v", st, err)
	}

	more := appendAll(t, s, uuidEvents(330, 3))
	if more[0].Seq != 111 {
		t.Fatalf("after expiry, a new t0 event got %+v, want seq 111", more[0])
	}
}

func drain(t *testing.T, s eventagg.Store) {
	t.Helper()
	for {
		n, err := s.Process(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// TestRetentionBoundsTheFile: publish, expire, publish again: the pages of
// expired events are reused, so the file grows by little more than the
// keys that stay (without retention each round would add as much as the
// first).
func TestRetentionBoundsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bounded.db")
	s := mustOpenKeys(t, path, 1<<20)
	defer s.Close()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return clock }
	payload := []byte(fmt.Sprintf(`{"pad":%q}`, make([]byte, 1000)))
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var sizes []int64
	for round := 0; round < 4; round++ {
		events := uuidEvents(round*3000, 3000)
		for i := range events {
			events[i].Payload = payload
		}
		appendAll(t, s, events)
		drain(t, s)
		if err := s.MergeNow(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := s.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, size())
		clock = clock.Add(time.Hour)
		// All but the newest, which stays until another arrives.
		if n, want := expireAll(t, s, clock), 3000-1+min(round, 1); n != want {
			k, m := dedupKeysRows(t, path)
			st, _ := s.Stats(context.Background())
			t.Fatalf("round %d: expired %d, want %d (keys %d merged %d, %+v)", round, n, want, k, m, st)
		}
	}
	firstGrowth := sizes[0]
	for r := 2; r < len(sizes); r++ {
		if growth := sizes[r] - sizes[r-1]; growth > firstGrowth/5 {
			t.Fatalf("file sizes %v: round %d grew by %d bytes, more than a fifth of the first round's %d", sizes, r, growth, firstGrowth)
		}
	}
	t.Logf("file sizes after each round: %v", sizes)
}
