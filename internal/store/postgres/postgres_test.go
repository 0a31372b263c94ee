package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/postgres"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
	"github.com/eventagg/eventagg/internal/store/storetest"
	"github.com/jackc/pgx/v5"
)

func mustOpen(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() eventagg.Store {
		url := pgtest.FreshSchema(t)
		return func() eventagg.Store { return mustOpen(t, url) }
	})
}

// Replicas starting at once each run the migrations safely.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.FreshSchema(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := postgres.Open(context.Background(), url)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if eventagg.ErrorCode(err) != eventagg.EUNAVAILABLE {
		t.Fatalf("err %v (code %q), want unavailable", err, eventagg.ErrorCode(err))
	}
}

// TestOpensOldSchemas restores a database written by the store of each
// earlier schema version (testdata/schemaN.sql: a dump of what that
// version's code made with storetest.WriteFixture; see TestFixtureGenerator)
// into a fresh schema, opens it, which migrates it, and reads everything
// back.
func TestOpensOldSchemas(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint("schema", v), func(t *testing.T) {
			url := pgtest.FreshSchema(t)
			dump, err := os.ReadFile(fmt.Sprintf("testdata/schema%d.sql", v))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.Exec(ctx, strings.ReplaceAll(string(dump), fmt.Sprintf("mkv%d.", v), schemaOf(url)+"."))
			conn.Close(ctx)
			if err != nil {
				t.Fatalf("restore the schema-%d dump: %v", v, err)
			}
			s := mustOpen(t, url)
			defer s.Close()
			storetest.CheckSchema1(t, s)
		})
	}
}

// TestTwoReplicasShareTopics: two stores on one schema (two replicas)
// append in turn to the same topics, one sometimes several groups in a
// row. Each remembers the last seq of the topics it wrote; it must notice
// when the other wrote since (its bucket moved), or it would hand out a seq
// already taken. Seqs stay gap-free and each answer is the right one.
func TestTwoReplicasShareTopics(t *testing.T) {
	url := pgtest.FreshSchema(t)
	a, b := mustOpen(t, url), mustOpen(t, url)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	next := map[string]int64{}
	for n := 0; n < 60; n++ {
		s := a
		if n%5 == 2 || n%5 == 3 {
			s = b
		}
		var events []eventagg.Event
		for k := 0; k < 1+n%4; k++ {
			// topics 0..199: 64 buckets, so several topics share each one
			events = append(events, storetest.Ev(fmt.Sprint("t", (n*7+k*13)%200), fmt.Sprint(n, "-", k), n))
		}
		out, err := s.Append(ctx, events, 0)
		if err != nil {
			t.Fatalf("append %d: %v", n, err)
		}
		for i, e := range events {
			next[e.Topic]++
			if out[i].Seq != next[e.Topic] || out[i].Duplicate {
				t.Fatalf("append %d, %s: %+v, want seq %d", n, e.Topic, out[i], next[e.Topic])
			}
		}
	}
}
