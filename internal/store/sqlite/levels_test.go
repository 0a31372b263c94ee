package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/sqlite"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// TestLevelsMergeInChunks: 800 topics, four in-order events each. The
// levels are merged by hand after the first round, and after the fourth,
// when the recent seqs are 2,400 rows, more than one transaction moves (the
// first chunk ends inside a topic's rows: topic ids 1 to 800, three seqs
// each).
// Before and after that merge every topic must list its events in order
// and count them, whichever levels hold them, and after it only the large
// levels hold rows (a chunk that left its last row behind would leave it
// in the recent level for good).
func TestLevelsMergeInChunks(t *testing.T) {
	ctx := context.Background()
	s := openUnmerged(t, filepath.Join(t.TempDir(), "levels.db"))
	defer s.Close()
	const topics, rounds = 800, 4
	for round := 1; round <= rounds; round++ {
		batch := make([]eventagg.Event, 0, topics)
		for i := range topics {
			batch = append(batch, storetest.Ev(fmt.Sprint("t", i), fmt.Sprint(round), round))
		}
		if _, err := s.Append(ctx, batch, 0); err != nil {
			t.Fatal(err)
		}
		if round == 1 {
			if err := s.MergeLevelsNow(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string) {
		for i := range topics {
			name := fmt.Sprint("t", i)
			page, err := s.Events(ctx, eventagg.EventQuery{Topic: name, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != rounds {
				t.Fatalf("%s: %s lists %d events, want %d", when, name, len(page.Events), rounds)
			}
			for j, e := range page.Events {
				if e.Seq != int64(j+1) || e.EventID != fmt.Sprint(j+1) {
					t.Fatalf("%s: %s event %d is seq %d, id %s", when, name, j, e.Seq, e.EventID)
				}
			}
			st, err := s.Topic(ctx, name)
			if err != nil || st.LastSeq != rounds {
				t.Fatalf("%s: %s: %+v, %v", when, name, st, err)
			}
		}
	}
	check("before the last merge")
	if err := s.MergeLevelsNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("after it")
	recent, large, err := s.LevelRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if recent != 0 || large != topics*(rounds+1) {
		t.Fatalf("after the last merge: %d recent rows, %d large, want 0 and %d", recent, large, topics*(rounds+1))
	}
}

// TestTopicInBothLevels: a topic's in-order events go into the large seq
// level in a group where it has many, into the recent one where it has
// few, so its seqs alternate between the two, and its last is in the large
// one. Listings, the topic's counters and, after a restart, its next seq
// must see them merged by seq, before and after a merge.
func TestTopicInBothLevels(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "both.db")
	open := func() *sqlite.Store { return openUnmerged(t, path) }
	s := open()
	defer func() { s.Close() }()
	n := 0
	for _, size := range []int{1, 6, 1, 6} {
		batch := make([]eventagg.Event, size)
		for i := range batch {
			n++
			batch[i] = storetest.Ev("x", fmt.Sprint(n), n)
		}
		out, err := s.Append(ctx, batch, 0)
		if err != nil {
			t.Fatal(err)
		}
		if last := out[len(out)-1]; last.Seq != int64(n) || last.Duplicate {
			t.Fatalf("event %d: %+v", n, last)
		}
	}
	check := func(when string) {
		for _, after := range []int64{0, 1, 6, 8} {
			page, err := s.Events(ctx, eventagg.EventQuery{Topic: "x", Order: eventagg.ByArrival, After: eventagg.Cursor{Order: eventagg.ByArrival, Pos: after}, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for j, e := range page.Events {
				if e.Seq != after+int64(j)+1 {
					t.Fatalf("%s: after seq %d, event %d is seq %d", when, after, j, e.Seq)
				}
			}
			if want := min(3, int64(n)-after); int64(len(page.Events)) != want {
				t.Fatalf("%s: after seq %d: %d events, want %d", when, after, len(page.Events), want)
			}
		}
		for _, order := range []eventagg.Order{eventagg.ByTime, eventagg.ByCausal} {
			page, err := s.Events(ctx, eventagg.EventQuery{Topic: "x", Order: order, Limit: 100})
			if err != nil || len(page.Events) != n {
				t.Fatalf("%s: %s order: %d events, %v", when, order, len(page.Events), err)
			}
			for j, e := range page.Events {
				if e.Seq != int64(j+1) {
					t.Fatalf("%s: %s order: event %d is seq %d", when, order, j, e.Seq)
				}
			}
		}
		st, err := s.Topic(ctx, "x")
		if err != nil || st.LastSeq != int64(n) {
			t.Fatalf("%s: %+v, %v", when, st, err)
		}
	}
	check("before a merge")
	// The writer forgets the topic: its next seq is read from the levels.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	n++
	out, err := s.Append(ctx, []eventagg.Event{storetest.Ev("x", fmt.Sprint(n), n)}, 0)
	if err != nil || out[0].Seq != int64(n) {
		t.Fatalf("after reopening: %+v, %v; want seq %d", out, err, n)
	}
	check("after reopening")
	if err := s.MergeLevelsNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("after a merge")
}

// TestNewTopicsGoToTheEnd: the in-order events of a topic the group created
// go straight into seq_in, as the rows of a topic with many events in the
// group do (a new topic's ids are the largest, so its rows append at the
// end); an existing topic's single event goes into the recent level. Either
// way each topic lists its events.
func TestNewTopicsGoToTheEnd(t *testing.T) {
	ctx := context.Background()
	s := openUnmerged(t, filepath.Join(t.TempDir(), "levels.db"))
	defer s.Close()
	levels := func(when string, wantRecent, wantLarge int64) {
		t.Helper()
		recent, large, err := s.LevelRows(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if recent != wantRecent || large != wantLarge {
			t.Fatalf("%s: %d recent rows and %d large, want %d and %d", when, recent, large, wantRecent, wantLarge)
		}
	}
	mustAppend := func(events ...eventagg.Event) {
		t.Helper()
		if _, err := s.Append(ctx, events, 0); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(storetest.Ev("a", "1", 1), storetest.Ev("b", "1", 1), storetest.Ev("c", "1", 1))
	levels("three new topics", 3, 3) // their names recent, their seqs in seq_in
	mustAppend(storetest.Ev("b", "2", 2))
	levels("an existing topic's event", 4, 3)
	for _, topic := range []string{"a", "b", "c"} {
		st, err := s.Topic(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.Events(ctx, eventagg.EventQuery{Topic: topic, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(page.Events)) != st.LastSeq || page.Events[len(page.Events)-1].Seq != st.LastSeq {
			t.Fatalf("%s: last seq %d, lists %d events", topic, st.LastSeq, len(page.Events))
		}
	}
}

// TestTopicCountsLevel: a topic's duplicates and conflicts are its row's
// plus its recent counts' (migration 007), before a merge, after it, and
// when a topic has both: here two rounds of repeats with a merge between,
// and a conflict (the same id, other content). The merge empties the
// recent counts.
func TestTopicCountsLevel(t *testing.T) {
	ctx := context.Background()
	s := openUnmerged(t, filepath.Join(t.TempDir(), "counts.db"))
	defer s.Close()
	var events []eventagg.Event
	for i := range 20 {
		events = append(events, storetest.Ev(fmt.Sprint("t", i), "1", i))
	}
	check := func(when string, dups, conflicts int64) {
		t.Helper()
		for i := range 20 {
			st, err := s.Topic(ctx, fmt.Sprint("t", i))
			if err != nil {
				t.Fatal(err)
			}
			wantConflicts := int64(0)
			if i == 0 {
				wantConflicts = conflicts
			}
			if st.Duplicates != dups || st.Conflicts != wantConflicts || st.Received != 1+dups+wantConflicts {
				t.Fatalf("%s: t%d %+v, want %d duplicates and %d conflicts", when, i, st, dups, wantConflicts)
			}
		}
	}
	for round := int64(0); round <= 2; round++ {
		if _, err := s.Append(ctx, events, 0); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("round %d", round), round, 0)
		if round == 1 {
			if err := s.MergeLevelsNow(ctx); err != nil {
				t.Fatal(err)
			}
			check("after the merge", round, 0)
		}
	}
	other := storetest.Ev("t0", "1", 0)
	other.Payload = []byte(`{"other":true}`)
	if _, err := s.Append(ctx, []eventagg.Event{other}, 0); err != nil {
		t.Fatal(err)
	}
	check("a conflict", 2, 1)
	if err := s.MergeLevelsNow(ctx); err != nil {
		t.Fatal(err)
	}
	check("after the last merge", 2, 1)
	if n, err := s.TopicCountRows(ctx); err != nil || n != 0 {
		t.Fatalf("after the merge %d recent counts (%v), want none", n, err)
	}
}

// openUnmerged opens the store at path with recent levels that are never
// due, so that only MergeLevelsNow merges them.
func openUnmerged(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.OpenOptions(context.Background(), path, sqlite.Options{LevelRows: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
