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
// levels hold rows. (A chunk that left its last row behind would leave a
// topic's older seq in the recent level and its newer ones in the large.)
func TestLevelsMergeInChunks(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.OpenOptions(ctx, filepath.Join(t.TempDir(), "levels.db"), sqlite.Options{LevelRows: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
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
