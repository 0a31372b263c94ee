package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// TestNamesPastTheBound: past its bound the set of all names is dropped,
// and names not cached are looked up as before: the topics created before
// and after go on with their seqs, each under one row.
func TestNamesPastTheBound(t *testing.T) {
	ctx := context.Background()
	s, err := OpenOptions(ctx, filepath.Join(t.TempDir(), "names.db"), Options{names: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := 1; round <= 3; round++ {
		var events []eventagg.Event
		for i := range 2 * round {
			events = append(events, eventagg.Event{Topic: fmt.Sprint("t", i), EventID: fmt.Sprint(round),
				Timestamp: time.Unix(int64(round), 0).UTC(), Source: "s", Payload: []byte(`{}`)})
		}
		s.topics.Clear() // as after a restart: only the set can tell a new name
		out, err := s.Append(ctx, events, 0)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, a := range out {
			if want := int64(round - i/2); a.Seq != want {
				t.Fatalf("round %d: t%d got seq %d, want %d", round, i, a.Seq, want)
			}
		}
		if kept := s.names.names != nil; kept != (round == 1) {
			t.Fatalf("round %d: set of names kept %v, want it only while 3 or fewer topics", round, kept)
		}
	}
	var rows int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM topics`).Scan(&rows); err != nil || rows != 6 {
		t.Fatalf("%d topic rows (%v), want 6", rows, err)
	}
}
