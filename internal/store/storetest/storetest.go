// Package storetest is the one conformance suite every eventagg.Store
// passes. Each store's tests call Run with a factory for fresh databases.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// Factory makes a fresh, empty database for one test and returns a function
// that opens a Store on it. Calling open again after closing the previous
// Store reopens the same data, as a restart would.
type Factory func(t *testing.T) (open func() eventagg.Store)

// Run runs every conformance test against the stores made by f.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, func() eventagg.Store)
	}{
		{"AppendAssignsGapFreeSeq", testAppendSeq},
		{"DuplicatesAcrossAppends", testDuplicates},
		{"DuplicatesInsideOneAppend", testInGroupDuplicates},
		{"SameIDTwoTopics", testTwoTopics},
		{"DedupSurvivesReopen", testReopen},
		{"ProcessExactlyOnce", testProcess},
		{"PayloadRoundTrip", testPayload},
		{"PagingArrival", testPagingArrival},
		{"PagingTimeWithLateEvents", testPagingTime},
		{"PagingAllTopics", testPagingGlobal},
		{"CursorMismatch", testCursorMismatch},
		{"UnknownTopicIsEmpty", testUnknownTopic},
		{"StatsAddUp", testStats},
		{"ConcurrentOverlappingAppends", testConcurrent},
		{"SQLShapedValuesStayLiteral", testSQLShaped},
		{"ManyTopicsOneGroup", testManyTopicsOneGroup},
		{"TopicsPaging", testTopicsPaging},
		{"PositionsAreTheListings", testPositions},
		{"RetentionKeepsKeys", testRetention},
		{"ConflictsAcrossAppends", testConflicts},
		{"ConflictsInsideOneAppend", testInGroupConflicts},
		{"ConflictsManyTopicsOneGroup", testManyTopicConflicts},
		{"ConflictsSurviveReopen", testConflictsReopen},
		{"ClocksStoredAndGiven", testClocks},
		{"PagingCausal", testPagingCausal},
		{"OrdersAgreeWithSorting", testOrdersAgreeWithSorting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, f(t))
		})
	}
}

var base = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// Ev builds a valid event; its timestamp is base plus sec seconds.
func Ev(topic, id string, sec int) eventagg.Event {
	return eventagg.Event{
		Topic: topic, EventID: id, Source: "storetest",
		Timestamp: base.Add(time.Duration(sec) * time.Second),
		Payload:   json.RawMessage(fmt.Sprintf(`{"id":%q}`, id)),
	}
}

func mustOpen(t *testing.T, open func() eventagg.Store) eventagg.Store {
	t.Helper()
	s := open()
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s eventagg.Store, events ...eventagg.Event) []eventagg.Appended {
	t.Helper()
	out, err := s.Append(context.Background(), events, 0)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(out) != len(events) {
		t.Fatalf("Append returned %d results for %d events", len(out), len(events))
	}
	return out
}

// want compares the verdicts (seq, duplicate, conflict); a store may also give
// positions and times, which other tests check.
func want(t *testing.T, got []eventagg.Appended, want ...eventagg.Appended) {
	t.Helper()
	verdicts := make([]eventagg.Appended, len(got))
	for i, a := range got {
		verdicts[i] = verdictOf(a)
	}
	if fmt.Sprint(verdicts) != fmt.Sprint(want) {
		t.Fatalf("appended = %v, want %v", got, want)
	}
}

// verdictOf is an answer without its position and time.
func verdictOf(a eventagg.Appended) eventagg.Appended {
	return eventagg.Appended{Seq: a.Seq, Duplicate: a.Duplicate, Conflict: a.Conflict}
}

func acc(seq int64) eventagg.Appended { return eventagg.Appended{Seq: seq} }
func dup(seq int64) eventagg.Appended { return eventagg.Appended{Seq: seq, Duplicate: true} }
func cnf(seq int64) eventagg.Appended {
	return eventagg.Appended{Seq: seq, Duplicate: true, Conflict: true}
}

func testAppendSeq(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	want(t, mustAppend(t, s, Ev("a", "1", 0), Ev("a", "2", 0)), acc(1), acc(2))
	want(t, mustAppend(t, s, Ev("a", "3", 0)), acc(3))
	want(t, mustAppend(t, s, Ev("b", "1", 0)), acc(1))
}

func testDuplicates(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	mustAppend(t, s, Ev("a", "x", 0), Ev("a", "y", 0))
	// A duplicate between new events takes no seq: the next new one is 3.
	want(t, mustAppend(t, s, Ev("a", "y", 0), Ev("a", "z", 0), Ev("a", "x", 0)), dup(2), acc(3), dup(1))
}

func testInGroupDuplicates(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	// x at second 5 is other content under x's key: a conflict.
	want(t, mustAppend(t, s, Ev("a", "x", 0), Ev("a", "x", 5), Ev("a", "y", 0), Ev("a", "x", 0)),
		acc(1), cnf(1), acc(2), dup(1))
}

func testTwoTopics(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	want(t, mustAppend(t, s, Ev("a", "same", 0), Ev("b", "same", 0), Ev("a", "same", 0)), acc(1), acc(1), dup(1))
}

func testReopen(t *testing.T, open func() eventagg.Store) {
	s := open()
	mustAppend(t, s, Ev("a", "x", 0), Ev("a", "y", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	want(t, mustAppend(t, s, Ev("a", "y", 0), Ev("a", "z", 0)), dup(2), acc(3))
}

// drain runs the consumer until it has caught up and returns the total.
// drain runs the consumer until it has caught up and returns how many
// events it processed.
func drain(t testing.TB, s eventagg.Store, step int) int {
	t.Helper()
	total := 0
	for {
		n, err := s.Process(context.Background(), step)
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

func stats(t *testing.T, s eventagg.Store) eventagg.Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func testProcess(t *testing.T, open func() eventagg.Store) {
	s := open()
	mustAppend(t, s, Ev("a", "1", 30), Ev("b", "1", 5), Ev("a", "2", 10), Ev("a", "1", 0))
	if n := drain(t, s, 2); n != 3 {
		t.Fatalf("processed %d, want 3", n)
	}
	mustAppend(t, s, Ev("a", "3", 50))
	s.Close()
	// After a restart only the new event is processed.
	s = mustOpen(t, open)
	if n := drain(t, s, 100); n != 1 {
		t.Fatalf("after reopen processed %d, want 1", n)
	}
	st := stats(t, s)
	if st.Processed != 4 || st.Pending() != 0 {
		t.Fatalf("processed=%d pending=%d, want 4 and 0", st.Processed, st.Pending())
	}
	a := topic(t, s, "a")
	if a.Topic != "a" || a.Processed != 3 || a.LastSeq != 3 ||
		!a.FirstTime.Equal(base.Add(10*time.Second)) || !a.LastTime.Equal(base.Add(50*time.Second)) {
		t.Fatalf("topic a aggregates = %+v", a)
	}
}

func testPayload(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	e := Ev("a", "p", 0)
	e.Payload = json.RawMessage(`{"nested":{"list":[1,2.5,"x",null,true]},"unicode":"é✓","empty":{}}`)
	e.Timestamp = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	mustAppend(t, s, e)
	page, err := s.Events(context.Background(), eventagg.EventQuery{Topic: "a", Order: eventagg.ByArrival, Limit: 10})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("Events = %v, %v", page, err)
	}
	got := page.Events[0]
	if string(got.Payload) != string(e.Payload) || !got.Timestamp.Equal(e.Timestamp) ||
		got.Source != e.Source || got.EventID != "p" || got.Seq != 1 || got.ReceivedAt.IsZero() {
		t.Fatalf("round trip: got %+v, want %+v", got, e)
	}
}

// list reads a whole listing page by page and returns the event ids.
func list(t *testing.T, s eventagg.Store, q eventagg.EventQuery) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		page, err := s.Events(context.Background(), q)
		if err != nil {
			t.Fatalf("Events(%+v): %v", q, err)
		}
		if len(page.Events) > q.Limit {
			t.Fatalf("page of %d events, limit %d", len(page.Events), q.Limit)
		}
		for _, e := range page.Events {
			ids = append(ids, e.Topic+"/"+e.EventID)
		}
		if page.Next.IsZero() {
			return ids
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		q.After = page.Next
	}
}

func testPagingArrival(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	var wantIDs []string
	for i := 0; i < 25; i++ {
		mustAppend(t, s, Ev("a", fmt.Sprint(i), 100-i), Ev("other", fmt.Sprint(i), 0))
		wantIDs = append(wantIDs, fmt.Sprintf("a/%d", i))
	}
	for _, limit := range []int{1, 7, 25, 100} {
		got := list(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByArrival, Limit: limit})
		if fmt.Sprint(got) != fmt.Sprint(wantIDs) {
			t.Fatalf("limit %d: got %v, want %v", limit, got, wantIDs)
		}
	}
}

func testPagingTime(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	// Arrival order 0..5, with late events (older timestamps) and a tie.
	mustAppend(t, s, Ev("a", "e0", 50), Ev("a", "e1", 10), Ev("a", "e2", 40))
	mustAppend(t, s, Ev("a", "e3", 10), Ev("a", "e4", 0), Ev("a", "e5", 60))
	wantIDs := "[a/e4 a/e1 a/e3 a/e2 a/e0 a/e5]" // by time, tie e1/e3 by seq
	for _, limit := range []int{1, 2, 4, 10} {
		got := list(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByTime, Limit: limit})
		if fmt.Sprint(got) != wantIDs {
			t.Fatalf("limit %d: got %v, want %v", limit, got, wantIDs)
		}
	}
	// Tailing in arrival order from Last sees a late event added afterwards.
	page, err := s.Events(context.Background(), eventagg.EventQuery{Topic: "a", Order: eventagg.ByArrival, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, Ev("a", "late", -100))
	got := list(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByArrival, Limit: 100, After: page.Last})
	if fmt.Sprint(got) != "[a/late]" {
		t.Fatalf("tail after Last = %v, want [a/late]", got)
	}
	// A time before 1970 (a negative number of µs) comes first too.
	moon := Ev("a", "moon", 0)
	moon.Timestamp = time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)
	mustAppend(t, s, moon)
	if got := list(t, s, eventagg.EventQuery{Topic: "a", Order: eventagg.ByTime, Limit: 3}); len(got) != 8 || got[0] != "a/moon" {
		t.Fatalf("by time with an event of 1969: %v, want it first of 8", got)
	}
}

func testPagingGlobal(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	mustAppend(t, s, Ev("b", "1", 0), Ev("a", "1", 0))
	mustAppend(t, s, Ev("a", "2", 0), Ev("b", "1", 0), Ev("c", "1", 0))
	got := list(t, s, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 2})
	if fmt.Sprint(got) != "[b/1 a/1 a/2 c/1]" {
		t.Fatalf("all topics = %v", got)
	}
}

func testCursorMismatch(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	mustAppend(t, s, Ev("a", "1", 0), Ev("a", "2", 0))
	page, err := s.Events(context.Background(), eventagg.EventQuery{Topic: "a", Order: eventagg.ByTime, Limit: 1})
	if err != nil || page.Next.IsZero() {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	for _, q := range []eventagg.EventQuery{
		{Topic: "a", Order: eventagg.ByArrival, Limit: 1, After: page.Next},
		{Order: eventagg.ByArrival, Limit: 1, After: page.Next},
	} {
		if _, err := s.Events(context.Background(), q); eventagg.ErrorCode(err) != eventagg.EINVALID {
			t.Fatalf("Events(%+v) err = %v, want invalid", q, err)
		}
	}
}

func testUnknownTopic(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	mustAppend(t, s, Ev("a", "1", 0))
	page, err := s.Events(context.Background(), eventagg.EventQuery{Topic: "nope", Order: eventagg.ByArrival, Limit: 10})
	if err != nil || len(page.Events) != 0 || !page.Next.IsZero() {
		t.Fatalf("unknown topic: %+v, %v", page, err)
	}
}

func testStats(t *testing.T, open func() eventagg.Store) {
	s := open()
	mustAppend(t, s, Ev("b", "1", 0), Ev("a", "1", 0), Ev("a", "1", 0))
	if _, err := s.Append(context.Background(), []eventagg.Event{Ev("a", "2", 0)}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), nil, 2); err != nil {
		t.Fatal(err)
	}
	st := stats(t, s)
	if st.Received != 4 || st.Stored != 3 || st.Duplicates != 1 || st.Rejected != 5 || st.Pending() != 3 {
		t.Fatalf("before processing: %+v", st)
	}
	drain(t, s, 10)
	s.Close()
	s = mustOpen(t, open)
	st = stats(t, s)
	if st.Received != st.Processed+st.Duplicates+st.Conflicts || st.Conflicts != 0 || st.Processed != 3 || st.Rejected != 5 {
		t.Fatalf("after reopen: %+v", st)
	}
	ts, err := s.Topics(context.Background(), eventagg.TopicQuery{Limit: 10})
	if err != nil || st.TopicCount != 2 || len(ts) != 2 || ts[0].Topic != "a" || ts[0].Received != 3 || ts[0].Duplicates != 1 ||
		ts[0].LastSeq != 2 || ts[0].Processed != 2 || ts[1].Topic != "b" || ts[1].Received != 1 {
		t.Fatalf("topic_count = %d, topics = %+v, %v", st.TopicCount, ts, err)
	}
}

func topic(t *testing.T, s eventagg.Store, name string) eventagg.TopicStats {
	t.Helper()
	ts, err := s.Topic(context.Background(), name)
	if err != nil {
		t.Fatalf("Topic(%q): %v", name, err)
	}
	return ts
}

// testManyTopicsOneGroup appends groups spread over thousands of topics,
// as a writer sees them with a topic per customer: each topic gets its own
// gap-free seq, repeats across and within groups are duplicates of the
// right event, and every counter adds up per topic and in all.
func testManyTopicsOneGroup(t *testing.T, open func() eventagg.Store) {
	s := open()
	const topics = 3000
	name := func(k int) string { return fmt.Sprintf("tenant.%05d", k) }
	var first, second []eventagg.Event
	for k := 0; k < topics; k++ {
		first = append(first, Ev(name(k), "a", k))
		// The second group repeats every third topic's first event and
		// adds a new one to every topic, some twice within the group.
		if k%3 == 0 {
			second = append(second, Ev(name(k), "a", k))
		}
		second = append(second, Ev(name(k), "b", k+1))
		if k%5 == 0 {
			second = append(second, Ev(name(k), "b", k+1))
		}
	}
	out := mustAppend(t, s, first...)
	for i, a := range out {
		if a.Duplicate || a.Seq != 1 {
			t.Fatalf("first group, event %d: %+v, want seq 1 of its topic", i, a)
		}
	}
	out = mustAppend(t, s, second...)
	var dups int64
	for i, a := range out {
		e := second[i]
		want := eventagg.Appended{Seq: 2}
		if e.EventID == "a" {
			want = eventagg.Appended{Seq: 1, Duplicate: true}
		} else if i > 0 && second[i-1].Topic == e.Topic && second[i-1].EventID == "b" {
			want = eventagg.Appended{Seq: 2, Duplicate: true}
		}
		if verdictOf(a) != want {
			t.Fatalf("second group, event %d (%s %s): %+v, want %+v", i, e.Topic, e.EventID, a, want)
		}
		if a.Duplicate {
			dups++
		}
	}
	drain(t, s, 1000)
	s.Close()
	s = mustOpen(t, open)
	st := stats(t, s)
	if st.TopicCount != topics || st.Stored != 2*topics || st.Processed != 2*topics || st.Duplicates != dups ||
		st.Received != st.Processed+st.Duplicates {
		t.Fatalf("stats = %+v, want %d topics, %d stored and processed, %d duplicates", st, topics, 2*topics, dups)
	}
	for _, k := range []int{0, 1, 2, 15, topics - 1} {
		got := topic(t, s, name(k))
		wantDups := int64(0)
		if k%3 == 0 {
			wantDups++
		}
		if k%5 == 0 {
			wantDups++
		}
		if got.LastSeq != 2 || got.Processed != 2 || got.Duplicates != wantDups || got.Received != 2+wantDups ||
			!got.FirstTime.Equal(base.Add(time.Duration(k)*time.Second)) || !got.LastTime.Equal(base.Add(time.Duration(k+1)*time.Second)) {
			t.Fatalf("topic %s = %+v, want 2 stored and processed, %d duplicates", name(k), got, wantDups)
		}
	}
	page, err := s.Events(context.Background(), eventagg.EventQuery{Topic: name(7), Order: eventagg.ByArrival, Limit: 10})
	if err != nil || len(page.Events) != 2 || page.Events[0].EventID != "a" || page.Events[1].EventID != "b" {
		t.Fatalf("events of %s = %+v, %v", name(7), page.Events, err)
	}
}

// testTopicsPaging pages through thousands of topics: each comes once, in
// name order; a prefix selects exactly the names that start with it; an
// unknown topic is ENOTFOUND.
func testTopicsPaging(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	var events []eventagg.Event
	var want []string
	for k := 0; k < 2500; k++ {
		n := fmt.Sprintf("%c.%d", 'a'+k%3, k)
		events = append(events, Ev(n, "1", k))
		want = append(want, n)
	}
	mustAppend(t, s, events...)
	slices.Sort(want)
	ctx := context.Background()
	var got []string
	for q := (eventagg.TopicQuery{Limit: 700}); ; {
		page, err := s.Topics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range page {
			got = append(got, ts.Topic)
			if ts.LastSeq != 1 || ts.Received != 1 {
				t.Fatalf("topic %+v, want one event", ts)
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].Topic
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %d topics, want %d, each once in name order", len(got), len(want))
	}
	for _, q := range []eventagg.TopicQuery{{Prefix: "b.", Limit: 10000}, {Prefix: "b.1", After: "b.1000", Limit: 50}, {Prefix: "zz", Limit: 5}} {
		page, err := s.Topics(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var names, wantNames []string
		for _, ts := range page {
			names = append(names, ts.Topic)
		}
		for _, n := range want {
			if q.Matches(n) && len(wantNames) < q.Limit {
				wantNames = append(wantNames, n)
			}
		}
		if !slices.Equal(names, wantNames) {
			t.Fatalf("Topics(%+v) = %d names %v…, want %d", q, len(names), names[:min(len(names), 3)], len(wantNames))
		}
	}
	if _, err := s.Topic(ctx, "nope"); eventagg.ErrorCode(err) != eventagg.ENOTFOUND {
		t.Fatalf("unknown topic: %v, want not_found", err)
	}
}

// testConcurrent has many goroutines append overlapping ids at once: each
// id is stored once, every duplicate points at the original's seq, and seqs
// are 1..n with no gap.
func testConcurrent(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	const workers, perWorker, distinct = 8, 30, 60
	var mu sync.Mutex
	seqOf := map[string]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i += 5 {
				var batch []eventagg.Event
				for j := i; j < i+5; j++ {
					batch = append(batch, Ev("c", fmt.Sprint((w*7+j*13)%distinct), j))
				}
				out, err := s.Append(context.Background(), batch, 0)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for k, a := range out {
					id := batch[k].EventID
					if prev, ok := seqOf[id]; ok && prev != a.Seq {
						// Without blocking: a broken store gives many.
						select {
						case errs <- fmt.Errorf("id %s has seq %d and %d", id, prev, a.Seq):
						default:
						}
					}
					seqOf[id] = a.Seq
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, seq := range seqOf {
		seen[seq] = true
	}
	for seq := int64(1); seq <= int64(len(seqOf)); seq++ {
		if !seen[seq] {
			t.Fatalf("seq %d missing among %d ids", seq, len(seqOf))
		}
	}
	st := stats(t, s)
	if st.Stored != int64(len(seqOf)) || st.Received != workers*perWorker {
		t.Fatalf("stats %+v, want stored %d received %d", st, len(seqOf), workers*perWorker)
	}
}

// testSQLShaped stores values shaped like SQL injection and reads them back
// literally: every query binds its values, none is spliced into SQL.
func testSQLShaped(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	nasty := []string{
		"'; DROP TABLE events; --",
		`" OR "1"="1`,
		"1 OR 1=1",
		"x'); DELETE FROM topics; --",
		`\'; SELECT pg_sleep(10); --`,
		"%_*?",
	}
	var events []eventagg.Event
	for i, v := range nasty {
		e := Ev("sql.topic:/-_", v, i)
		e.Source = v
		e.Payload = json.RawMessage(fmt.Sprintf(`{"v":%q}`, v))
		events = append(events, e)
	}
	mustAppend(t, s, events...)
	// The same values again are duplicates: the lookup bound them too.
	out := mustAppend(t, s, events...)
	for i, a := range out {
		if !a.Duplicate || a.Seq != int64(i+1) {
			t.Fatalf("repeat of %q: %+v", nasty[i], a)
		}
	}
	page, err := s.Events(context.Background(), eventagg.EventQuery{Topic: "sql.topic:/-_", Order: eventagg.ByArrival, Limit: 100})
	if err != nil || len(page.Events) != len(nasty) {
		t.Fatalf("read back: %d events, %v", len(page.Events), err)
	}
	for i, e := range page.Events {
		if e.EventID != nasty[i] || e.Source != nasty[i] || string(e.Payload) != string(events[i].Payload) {
			t.Fatalf("stored %+v, want %q", e, nasty[i])
		}
	}
	// A topic that looks like a pattern matches nothing else.
	page, err = s.Events(context.Background(), eventagg.EventQuery{Topic: "sql%", Order: eventagg.ByArrival, Limit: 100})
	if err != nil || len(page.Events) != 0 {
		t.Fatalf("pattern-shaped topic: %d events, %v", len(page.Events), err)
	}
	if st := stats(t, s); st.Stored != int64(len(nasty)) {
		t.Fatalf("stats %+v", st)
	}
}

// testPositions: a store that gives a new event's position and commit time
// with its answer gives what a listing reads back; a duplicate has none.
func testPositions(t *testing.T, open func() eventagg.Store) {
	s := mustOpen(t, open)
	mustAppend(t, s, Ev("a", "0", 0))
	out := mustAppend(t, s, Ev("a", "1", 0), Ev("b", "1", 1), Ev("a", "1", 2), Ev("a", "2", 3))
	if out[2].Position != 0 || !out[2].ReceivedAt.IsZero() {
		t.Fatalf("a duplicate has a position or time: %+v", out[2])
	}
	if out[0].Position == 0 {
		return // this store gives no positions
	}
	page, err := s.Events(context.Background(), eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 10})
	if err != nil || len(page.Events) != 4 {
		t.Fatalf("listing: %d events, %v", len(page.Events), err)
	}
	for i, k := range []int{0, 1, 3} {
		e := page.Events[i+1]
		if out[k].Position != e.Position || !out[k].ReceivedAt.Equal(e.ReceivedAt) || out[k].ReceivedAt.Location() != time.UTC {
			t.Fatalf("event %d answered position %d at %v; the listing has %d at %v", k, out[k].Position, out[k].ReceivedAt, e.Position, e.ReceivedAt)
		}
	}
}
