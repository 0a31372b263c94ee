package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/sqlite"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// MustOpen opens a store at path, failing the test on error.
func MustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	return mustOpenKeys(tb, path, 0)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() eventagg.Store {
		path := filepath.Join(t.TempDir(), "test.db")
		return func() eventagg.Store { return MustOpen(t, path) }
	})
}

// TestTwoWritersOnOneFile: two stores (as two processes would) append to
// the same topics of one file in turn. Each caches the topics' last seqs,
// and must notice the other's commits (PRAGMA data_version), or it would
// hand out a seq the other already used; each keeps the newest dedup keys
// in memory, and must read the other's too; and each must find the topics
// the other created, or it would create them again.
func TestTwoWritersOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	// Room for four recent keys: both merge into the key tables as they go.
	a, b := mustOpenKeys(t, path, 4), mustOpenKeys(t, path, 4)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	ev := func(topic string, n int) eventagg.Event {
		return eventagg.Event{Topic: topic, EventID: fmt.Sprint(n), Timestamp: time.Unix(int64(n), 0).UTC(), Source: "s", Payload: []byte(`{}`)}
	}
	next := map[string]int64{}
	for n := 0; n < 40; n++ {
		s := a
		if n%3 == 1 {
			s = b
		}
		topic := fmt.Sprint("t", n%7)
		out, err := s.Append(ctx, []eventagg.Event{ev(topic, n)}, 0)
		if err != nil {
			t.Fatalf("append %d: %v", n, err)
		}
		next[topic]++
		if out[0].Seq != next[topic] || out[0].Duplicate {
			t.Fatalf("append %d to %s: %+v, want seq %d", n, topic, out[0], next[topic])
		}
		// And each sees the other's keys: the event sent again through
		// the other store is a duplicate.
		other := b
		if s == b {
			other = a
		}
		again, err := other.Append(ctx, []eventagg.Event{ev(topic, n)}, 0)
		if err != nil {
			t.Fatalf("append %d again: %v", n, err)
		}
		if again[0] != (eventagg.Appended{Seq: next[topic], Duplicate: true}) {
			t.Fatalf("append %d to %s again through the other store: %+v, want a duplicate of seq %d", n, topic, again[0], next[topic])
		}
	}
}

// TestTopicsAfterReopening: after a restart the writer knows no topic, and
// must find every stored one in either name level (here levels of three
// rows, so most are merged), or it would create a topic again instead of
// going on with its seq (the trigger topic_named refuses that).
func TestTopicsAfterReopening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.db")
	ctx := context.Background()
	open := func() *sqlite.Store {
		s, err := sqlite.OpenOptions(ctx, path, sqlite.Options{LevelRows: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const topics = 20
	for round := int64(1); round <= 3; round++ {
		s := open()
		for i := range topics {
			out, err := s.Append(ctx, []eventagg.Event{storetest.Ev(fmt.Sprint("t", i), fmt.Sprint(round), int(round))}, 0)
			if err != nil {
				t.Fatalf("round %d, topic %d: %v", round, i, err)
			}
			if out[0].Seq != round || out[0].Duplicate {
				t.Fatalf("round %d, topic %d: %+v, want seq %d", round, i, out[0], round)
			}
		}
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TopicCount != topics {
			t.Fatalf("round %d: %d topics, want %d", round, st.TopicCount, topics)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
