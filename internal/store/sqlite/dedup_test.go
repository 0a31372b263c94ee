package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/sqlite"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// mustOpenKeys opens a store with room for recent keys in memory (0: the
// default).
func mustOpenKeys(tb testing.TB, path string, recent int) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.OpenOptions(context.Background(), path, sqlite.Options{RecentKeys: recent})
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	return s
}

// TestConformanceMerging runs the conformance suite with room for only four
// recent keys and three rows in the recent levels, so that nearly every
// group freezes keys and the background merger writes dedup_keys and the
// large levels while the tests append and read (run it with -race).
func TestConformanceMerging(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() eventagg.Store {
		path := filepath.Join(t.TempDir(), "test.db")
		return func() eventagg.Store {
			s, err := sqlite.OpenOptions(context.Background(), path, sqlite.Options{RecentKeys: 4, LevelRows: 3})
			if err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			return s
		}
	})
}

// uuidEvents makes n events with random-looking ids over three topics.
func uuidEvents(from, n int) []eventagg.Event {
	out := make([]eventagg.Event, n)
	for i := range out {
		k := from + i
		out[i] = eventagg.Event{Topic: fmt.Sprint("t", k%3), EventID: fmt.Sprintf("%08x-%04x-4abc-8def-%012x", k*2654435761%(1<<32), k, k*40503),
			Timestamp: time.Unix(int64(k), 0).UTC(), Source: "s", Payload: []byte(`{}`)}
	}
	return out
}

// appendAll appends events in groups of 100 and returns each one's result.
func appendAll(t *testing.T, s eventagg.Store, events []eventagg.Event) []eventagg.Appended {
	t.Helper()
	var out []eventagg.Appended
	for start := 0; start < len(events); start += 100 {
		got, err := s.Append(context.Background(), events[start:min(start+100, len(events))], 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

// checkAllDuplicates re-sends events and wants every one a duplicate with
// the seq it was first given.
func checkAllDuplicates(t *testing.T, s eventagg.Store, events []eventagg.Event, first []eventagg.Appended) {
	t.Helper()
	again := appendAll(t, s, events)
	for i, a := range again {
		if !a.Duplicate || a.Seq != first[i].Seq {
			t.Fatalf("event %d (%s) sent again: %+v, want duplicate of seq %d", i, events[i].EventID, a, first[i].Seq)
		}
	}
}

// dedupKeysRows returns how many distinct keys the two levels hold and
// keys_merged, and checks the counters of each level's rows.
func dedupKeysRows(t *testing.T, path string) (keys, merged int64) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var recent, stored, countedRecent, countedStored int64
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM dedup_recent), (SELECT count(*) FROM dedup_keys), keys_merged, keys_recent, keys_stored FROM counters`).
		Scan(&recent, &stored, &merged, &countedRecent, &countedStored); err != nil {
		t.Fatal(err)
	}
	if recent != countedRecent || stored != countedStored {
		t.Fatalf("dedup_recent holds %d keys, dedup_keys %d; counters say %d and %d", recent, stored, countedRecent, countedStored)
	}
	// A key is in one level or both: together they hold at least each once.
	var distinct int64
	if err := db.QueryRow(`SELECT count(*) FROM (SELECT key FROM dedup_recent UNION SELECT key FROM dedup_keys)`).Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	return distinct, merged
}

// TestKeysMergeAndReopen: keys merged into dedup_keys, keys still only in
// memory, and keys read back from the events at a reopen all deduplicate.
func TestKeysMergeAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := mustOpenKeys(t, path, 1<<20)
	events := uuidEvents(0, 1000)
	first := appendAll(t, s, events[:600])
	if err := s.MergeNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.RecentKeyCount(); n != 0 {
		t.Fatalf("%d keys in memory after a merge", n)
	}
	first = append(first, appendAll(t, s, events[600:])...)
	if n := s.RecentKeyCount(); n != 400 {
		t.Fatalf("%d keys in memory, want the 400 since the merge", n)
	}
	checkAllDuplicates(t, s, events, first)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if keys, merged := dedupKeysRows(t, path); keys != 600 || merged != 600 {
		t.Fatalf("dedup_keys holds %d keys up to event %d, want 600 and 600", keys, merged)
	}

	s = mustOpenKeys(t, path, 1<<20)
	defer s.Close()
	if n := s.RecentKeyCount(); n != 400 {
		t.Fatalf("reopened with %d keys in memory, want the 400 unmerged", n)
	}
	checkAllDuplicates(t, s, events, first)
	if st, err := s.Stats(ctx); err != nil || st.Stored != 1000 || st.Duplicates != 2000 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

// TestMergeCutShort: a merge that wrote only some keys before the process
// stopped leaves keys_merged where it was; the reopened store reads all of
// them again, deduplicates them, and a later merge completes (the keys
// already written are not doubled).
func TestMergeCutShort(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cut.db")
	s := mustOpenKeys(t, path, 1<<20)
	events := uuidEvents(0, 500)
	first := appendAll(t, s, events)
	if err := s.MergePart(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if keys, merged := dedupKeysRows(t, path); keys != 200 || merged != 0 {
		t.Fatalf("after the cut: %d keys up to event %d, want 200 and 0", keys, merged)
	}
	s = mustOpenKeys(t, path, 1<<20)
	defer s.Close()
	if n := s.RecentKeyCount(); n != 500 {
		t.Fatalf("reopened with %d keys in memory, want 500", n)
	}
	checkAllDuplicates(t, s, events, first)
	if err := s.MergeNow(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, merged := dedupKeysRows(t, path); keys != 500 || merged != 500 {
		t.Fatalf("after the second merge: %d keys up to event %d, want 500 and 500", keys, merged)
	}
	checkAllDuplicates(t, s, events, first)
}

// TestOpenMergesBacklog: a store opened on more unmerged events than it may
// hold in memory (as after the migration from schema 2) merges them while
// it opens, and keeps fewer than its limit in memory.
func TestOpenMergesBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlog.db")
	s := mustOpenKeys(t, path, 1<<20)
	events := uuidEvents(0, 2500)
	first := appendAll(t, s, events)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenKeys(t, path, 1000)
	defer s.Close()
	if n := s.RecentKeyCount(); n >= 1000 {
		t.Fatalf("%d keys in memory after opening, limit 1000", n)
	}
	checkAllDuplicates(t, s, events, first)
}

// TestCompaction: merged keys land in dedup_recent; once it holds enough
// (twice a merge's worth, and an eighth of dedup_keys) a compaction moves
// them into dedup_keys, and every key deduplicates wherever it is, before
// and after a reopen. The store's own merges and compactions run in the
// background too, so the levels are checked for what must hold whatever
// ran when: every key in one of them, and no compaction left due.
func TestCompaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "levels.db")
	s := mustOpenKeys(t, path, 100)
	events := uuidEvents(0, 400)
	settle := func(keys int64) {
		t.Helper()
		if err := s.MergeNow(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.CompactNow(ctx); err != nil {
			t.Fatal(err)
		}
		recent, stored, err := s.KeyLevels(ctx)
		if err != nil || recent >= 200 || stored == 0 {
			t.Fatalf("levels: dedup_recent %d, dedup_keys %d (%v): a compaction was due", recent, stored, err)
		}
		if distinct, _ := dedupKeysRows(t, path); distinct != keys {
			t.Fatalf("the levels hold %d keys, want %d", distinct, keys)
		}
	}
	first := appendAll(t, s, events[:300])
	settle(300)
	first = append(first, appendAll(t, s, events[300:])...)
	settle(400)
	checkAllDuplicates(t, s, events, first)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenKeys(t, path, 100)
	defer s.Close()
	checkAllDuplicates(t, s, events, first)
}
