package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

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
	for _, v := range []int{1, 2, 3, 4, 5} {
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

// TestTopicsInByteOrder: /topics pages in byte order, as Go compares strings
// (and so as TopicQuery.Matches and the client's After expect), whatever
// the database's collation: here one that sorts case and accents together
// (ICU's en-US), where "B" would come after "a". Since migration 006 the
// names' one index is in byte order.
func TestTopicsInByteOrder(t *testing.T) {
	s := mustOpen(t, pgtest.FreshDatabase(t, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"))
	defer s.Close()
	names := []string{"b", "B", "a", "Z", "é", "e", "ä", "a.1"}
	var events []eventagg.Event
	for i, n := range names {
		events = append(events, storetest.Ev(n, "1", i))
	}
	if _, err := s.Append(context.Background(), events, 0); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for _, after := range []string{"", "B", "a", "e"} {
		page, err := s.Topics(context.Background(), eventagg.TopicQuery{After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ts := range page {
			got = append(got, ts.Topic)
		}
		want := names[slices.Index(names, after)+1:]
		if !slices.Equal(got, want) {
			t.Errorf("after %q: %q, want %q", after, got, want)
		}
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
		// topics 0..199: 64 buckets, so several topics share each one;
		// and one of three hot topics that both write again and again
		events := []eventagg.Event{storetest.Ev(fmt.Sprint("hot", n%3), fmt.Sprint(n), n)}
		for k := 0; k < 1+n%4; k++ {
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

// TestExpiredTailMovesOn: when every event has expired, a listing of all
// topics (or of one) is empty, says how many it skipped, and its Last is
// past them, so a tailing reader does not skip them again at every poll.
func TestExpiredTailMovesOn(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, pgtest.FreshSchema(t))
	defer s.Close()
	var events []eventagg.Event
	for i := 0; i < 50; i++ {
		events = append(events, storetest.Ev(fmt.Sprint("t", i%5), fmt.Sprint("e", i), i))
	}
	if _, err := s.Append(ctx, events, 0); err != nil {
		t.Fatal(err)
	}
	all, err := s.Events(ctx, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 100})
	if err != nil || len(all.Events) != 50 {
		t.Fatalf("listed %d, %v", len(all.Events), err)
	}
	for n := 1; n > 0; {
		if _, err := s.Process(ctx, 1000); err != nil {
			t.Fatal(err)
		}
		if n, err = s.Expire(ctx, time.Now().Add(time.Hour), 1000); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.Events(ctx, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 100})
	if err != nil || len(page.Events) != 0 || page.Skipped != 50 || page.Last.Pos != all.Last.Pos {
		t.Fatalf("after expiring all: %d events, skipped %d, last %d (%v); want none, 50 skipped, last %d",
			len(page.Events), page.Skipped, page.Last.Pos, err, all.Last.Pos)
	}
	topic, err := s.Events(ctx, eventagg.EventQuery{Topic: "t1", Order: eventagg.ByArrival, Limit: 100})
	if err != nil || len(topic.Events) != 0 || topic.Skipped != 10 || topic.Last.Pos != 10 {
		t.Fatalf("t1 after expiring all: %d events, skipped %d, last %d (%v); want none, 10 skipped, last seq 10",
			len(topic.Events), topic.Skipped, topic.Last.Pos, err)
	}
}

// TestRetentionBoundsTheTables: publish, expire, vacuum (autovacuum's job in
// a real deployment), publish again: the space of the expired rows' old
// versions is reused, so the tables grow by little more than the rows that
// stay, with their keys and seqs, and their index entries (without
// retention each round would add as much as the first). It runs in a
// database of its own: another package's test holding a snapshot in the
// shared one would keep VACUUM from reclaiming anything.
func TestRetentionBoundsTheTables(t *testing.T) {
	ctx := context.Background()
	url := pgtest.FreshDatabase(t)
	s := mustOpen(t, url)
	defer s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pad := make([]byte, 500)
	for i := range pad {
		pad[i] = byte(i * 7919 >> 3)
	}
	payload := []byte(fmt.Sprintf(`{"pad":"%x"}`, pad)) // 1 KB that does not compress
	var sizes []int64
	const perRound = 3000
	for round := 0; round < 5; round++ {
		for g := 0; g < perRound/100; g++ {
			var events []eventagg.Event
			for i := 0; i < 100; i++ {
				e := storetest.Ev(fmt.Sprint("t", i%8), fmt.Sprintf("r%d-g%d-%d", round, g, i), i)
				e.Payload = payload
				events = append(events, e)
			}
			if _, err := s.Append(ctx, events, 0); err != nil {
				t.Fatal(err)
			}
		}
		for n := 1; n > 0; {
			if n, err = s.Process(ctx, 1000); err != nil {
				t.Fatal(err)
			}
		}
		var size int64
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('events')`).Scan(&size); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, size)
		var heap, toast, idx int64
		conn.QueryRow(ctx, `SELECT pg_relation_size('events'), pg_table_size('events') - pg_relation_size('events'), pg_indexes_size('events')`).Scan(&heap, &toast, &idx)
		t.Logf("round %d: heap %d toast %d indexes %d", round, heap, toast, idx)
		expired := 0
		for n := 1; n > 0; expired += n {
			if n, err = s.Expire(ctx, time.Now().Add(time.Hour), 1000); err != nil {
				t.Fatal(err)
			}
		}
		if expired != perRound {
			t.Fatalf("round %d: expired %d of %d", round, expired, perRound)
		}
		if _, err := conn.Exec(ctx, `VACUUM events`); err != nil {
			t.Fatal(err)
		}
	}
	first := sizes[0]
	for r := 2; r < len(sizes); r++ {
		if growth := sizes[r] - sizes[r-1]; growth > first/2 {
			t.Fatalf("table sizes %v: round %d grew by %d bytes, more than half the first round's %d", sizes, r, growth, first)
		}
	}
	t.Logf("events table and indexes after each round of %d events: %v bytes", perRound, sizes)
}
