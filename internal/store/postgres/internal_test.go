package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

func openFresh(t *testing.T) *Store {
	t.Helper()
	return openOn(t, pgtest.FreshSchema(t))
}

// openOn opens a store on url (a replica, when called twice), closed at
// the test's end.
func openOn(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// durable flushes commits that did not wait for their own flush, which is
// what Append relies on before it acknowledges a group.
func TestDurableFlushesEarlierCommits(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	for i := 0; i < 5; i++ {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var committed string
		_, err = conn.Exec(ctx, `SET synchronous_commit = off`)
		if err == nil {
			_, err = conn.Exec(ctx, `UPDATE counters SET rejected = rejected WHERE shard = 0`)
		}
		if err == nil {
			err = conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&committed)
		}
		if err == nil {
			_, err = conn.Exec(ctx, `RESET synchronous_commit`)
		}
		conn.Release()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.durable(ctx); err != nil {
			t.Fatal(err)
		}
		var flushed bool
		if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, committed).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
		if !flushed {
			t.Fatalf("round %d: durable returned before the asynchronous commit at %s was flushed", i, committed)
		}
	}
}

// The group's transaction turns synchronous_commit off for itself only:
// afterwards every pooled connection (the consumer's and readers' too)
// commits synchronously again.
func TestAsyncCommitStaysInTheGroup(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	for i := 0; i < 20; i++ {
		e := eventagg.Event{Topic: "t", EventID: fmt.Sprint("e", i), Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
		if _, err := s.Append(ctx, []eventagg.Event{e}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Inside a pipeline's implicit transaction the setting does apply.
	batch := &pgx.Batch{}
	batch.Queue(asyncCommit)
	batch.Queue(`SELECT current_setting('synchronous_commit')`)
	br := s.pool.SendBatch(ctx, batch)
	_, err := br.Exec()
	var inside string
	if err == nil {
		err = br.QueryRow().Scan(&inside)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if inside != "off" {
		t.Fatalf("synchronous_commit inside the group's pipeline is %q, want off", inside)
	}
	conns := s.pool.AcquireAllIdle(ctx)
	if len(conns) == 0 {
		t.Fatal("no idle connections to check")
	}
	for _, c := range conns {
		var mode string
		err := c.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&mode)
		c.Release()
		if err != nil {
			t.Fatal(err)
		}
		if mode != "on" {
			t.Fatalf("a pooled connection has synchronous_commit=%s after Append", mode)
		}
	}
}

func TestShareOut(t *testing.T) {
	for _, c := range []struct {
		pending []int64
		limit   int64
		want    []int64
	}{
		{[]int64{5, 5}, 100, []int64{5, 5}},
		{[]int64{1000, 3, 1000}, 100, []int64{49, 3, 48}},
		{[]int64{10, 10, 10}, 2, []int64{1, 1, 0}},
		{[]int64{7}, 0, []int64{1}},
	} {
		got := shareOut(c.pending, c.limit)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("shareOut(%v, %d) = %v, want %v", c.pending, c.limit, got, c.want)
		}
	}
}

// The group's pipeline commits whatever the client makes of the answers,
// so an inconsistency must abort it on the server: here a topic row that
// vanished under the replica's cache of topic ids, and a bucket row that
// vanished. (A hint learned from the replica's own commit stands in for
// the topic row's probe, as no database that holds the commit can lack the
// row; so the replica here has forgotten its hints, as when another replica
// has written the bucket since.)
func TestVanishedRowsStoreNothing(t *testing.T) {
	ctx := context.Background()
	for _, vanish := range []string{`DELETE FROM topics WHERE name = 'gone'`, `DELETE FROM buckets`} {
		s := openFresh(t)
		ev := func(id string) eventagg.Event {
			return eventagg.Event{Topic: "gone", EventID: id, Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
		}
		if _, err := s.Append(ctx, []eventagg.Event{ev("a")}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, vanish); err != nil {
			t.Fatal(err)
		}
		s.lastSeqs = newLastSeqs(maxCachedTopics)
		if _, err := s.Append(ctx, []eventagg.Event{ev("b"), ev("c")}, 0); err == nil {
			t.Fatalf("%s: the next append succeeded", vanish)
		}
		var events, received int64
		if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT sum(received) FROM counters)`).Scan(&events, &received); err != nil {
			t.Fatal(err)
		}
		if events != 1 || received != 1 {
			t.Fatalf("%s: after the failed append: %d events, %d received; want 1 and 1", vanish, events, received)
		}
	}
}

// TestDurableWaitsForTheSyncStandby: with a synchronous standby, a commit
// that did not wait for its flush is durable only once the standby has it
// too, even when the primary's own flush has already caught up. With the
// standby paused, durable must not return; once it resumes, it does.
func TestDurableWaitsForTheSyncStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two PostgreSQL clusters of its own")
	}
	primary := pgtest.StartCluster(t)
	standby := pgtest.StartStandby(t, primary, "standby")
	ctx := context.Background()
	s, err := Open(ctx, primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	standby.Pause()
	resumed := false
	defer func() {
		if !resumed {
			standby.Resume()
		}
	}()
	// A commit that does not wait, then the primary's own flush past it.
	var lsn string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_logical_emit_message(true, 'test', 'async')`)
		return err
	})
	if err == nil {
		err = s.pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	for flushed := false; !flushed; {
		if err := s.pool.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.durable(short); err == nil {
		t.Fatal("durable returned while the synchronous standby had not confirmed the commit")
	}
	standby.Resume()
	resumed = true
	if err := s.durable(ctx); err != nil {
		t.Fatal(err)
	}
}

// A topic's id is cached only once a group using it is durable: its row
// was created by a commit that did not wait for its flush, so until then a
// crash could take the row and the sequence could give its id to another
// name. Here the group fails after creating the topic (its bucket rows are
// gone); the id must not be remembered, and once the buckets are back the
// next group stores under the topic's real row.
func TestTopicIDsCachedOnlyOnceDurable(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	if _, err := s.pool.Exec(ctx, `CREATE TABLE saved_buckets AS SELECT * FROM buckets; DELETE FROM buckets`); err != nil {
		t.Fatal(err)
	}
	e := eventagg.Event{Topic: "new", EventID: "a", Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
	if _, err := s.Append(ctx, []eventagg.Event{e}, 0); err == nil {
		t.Fatal("the append succeeded without bucket rows")
	}
	if _, ok := s.knownTopics.Get("new"); ok {
		t.Fatal("a failed group left its new topic's id in the cache")
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO buckets SELECT * FROM saved_buckets`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, []eventagg.Event{e}, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.knownTopics.Get("new"); !ok {
		t.Fatal("a durable group did not cache its topic's id")
	}
}

// The group statement's plan is made once per connection (generic, see
// asyncCommit) and kept, often while the tables are still empty and
// unanalysed. A plan made then must still be the one that probes an index
// per topic: a hash join over topics read the whole table for every group
// (seen under load with 100,000 topics: 7 ms of a 29 ms group, and growing
// with the topic count). Also when a VACUUM has just measured the tables
// small (a few rows each), where a scan is the cheaper plan until they grow.
func TestGroupPlanProbesTopics(t *testing.T) {
	for _, vacuumed := range []bool{false, true} {
		s := openFresh(t)
		if vacuumed {
			smallTables(t, s)
		}
		plan := genericPlan(t, s, asyncCommit, appendGroup)
		for _, bad := range []string{"Seq Scan on topics", "Seq Scan on events", "Hash Join", "Merge Join"} {
			if strings.Contains(plan, bad) {
				t.Errorf("vacuumed %v: the group's generic plan has a %s:\n%s", vacuumed, bad, plan)
			}
		}
	}
}

// The same for the statements that create topics and read their ids: a
// connection that planned the lookup of ids while topics was a few pages
// read the whole table for every group after (seen with auto_explain at
// 100,000 topics: 30–50 ms a call).
func TestTopicPlansProbeTheIndex(t *testing.T) {
	s := openFresh(t)
	smallTables(t, s)
	for _, stmt := range []string{createTopics, readTopicIDs} {
		if plan := genericPlan(t, s, topicSettings, stmt); strings.Contains(plan, "Seq Scan on topics") {
			t.Errorf("the generic plan of %s reads the whole table:\n%s", stmt, plan)
		}
	}
}

// smallTables stores a few events in a few topics and lets VACUUM measure
// the tables, as autovacuum does early in a store's life.
func smallTables(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	var events []eventagg.Event
	for i := range 5 {
		events = append(events, eventagg.Event{Topic: fmt.Sprint("t", i), EventID: "e", Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)})
	}
	if _, err := s.Append(ctx, events, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE topics, events, buckets`); err != nil {
		t.Fatal(err)
	}
}

// genericPlan returns the plan PostgreSQL keeps for stmt on a connection,
// made with settings as the store makes it.
func genericPlan(t *testing.T, s *Store, settings, stmt string) string {
	t.Helper()
	n := 0 // the statement's parameters: $1 … $n
	for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(stmt, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// After five executions PostgreSQL keeps the generic plan when it looks
	// no dearer, and the group statement forces it (asyncCommit).
	if _, err := tx.Exec(ctx, `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "PREPARE stmt AS "+stmt); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "DEALLOCATE stmt") // a prepared statement outlives the transaction
	nulls := strings.TrimSuffix(strings.Repeat("NULL,", n), ",")
	rows, err := tx.Query(ctx, "EXPLAIN EXECUTE stmt("+nulls+")")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestStatementsProbeIndexes runs every kind of call on a young store whose
// tables VACUUM has just measured small, often enough that PostgreSQL keeps
// generic plans (it does after five executions), with auto_explain sending
// the plan of each statement executed back to the test. No plan may scan
// events or topics whole or hash-join: a plan kept from then on would go
// on reading whole tables as they grew. Nor may one be compiled (JIT): that
// takes longer than any of them runs. It fails without plannerSettings.
func TestStatementsProbeIndexes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.FreshSchema(t)
	smallTables(t, openOn(t, url))

	var mu sync.Mutex
	var plans []string
	s, err := open(ctx, url+"&session_preload_libraries=auto_explain&auto_explain.log_min_duration=0&auto_explain.log_level=notice", func(cfg *pgxpool.Config) {
		cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
			mu.Lock()
			defer mu.Unlock()
			plans = append(plans, n.Message)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 7 {
		events := []eventagg.Event{
			{Topic: "t1", EventID: fmt.Sprint("x", i), Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)},
			{Topic: fmt.Sprint("new", i), EventID: "x", Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)},
			{Topic: "t2", EventID: "e", Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}, // a duplicate
		}
		calls := []func() error{
			func() error { _, err := s.Append(ctx, events, 0); return err },
			func() error { _, err := s.Process(ctx, 100); return err },
			func() error {
				_, err := s.Events(ctx, eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 10})
				return err
			},
			func() error {
				for _, o := range []eventagg.Order{eventagg.ByArrival, eventagg.ByTime, eventagg.ByCausal} {
					if _, err := s.Events(ctx, eventagg.EventQuery{Topic: "t1", Order: o, Limit: 10}); err != nil {
						return err
					}
				}
				return nil
			},
			func() error { _, err := s.End(ctx, ""); return err },
			func() error { _, err := s.End(ctx, "t1"); return err },
			func() error { _, err := s.Stats(ctx); return err },
			func() error { _, err := s.Topics(ctx, eventagg.TopicQuery{Limit: 10}); return err },
			func() error { _, err := s.Topic(ctx, "t1"); return err },
			func() error { _, err := s.Expire(ctx, time.Now().Add(-time.Hour), 100); return err },
		}
		for _, call := range calls {
			if err := call(); err != nil {
				t.Fatal(err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(plans) < 70 {
		t.Fatalf("auto_explain sent %d plans; want one for each statement", len(plans))
	}
	for _, p := range plans {
		for _, bad := range []string{"Seq Scan on events", "Seq Scan on topics", "Hash Join", "Merge Join", "JIT:"} {
			if strings.Contains(p, bad) {
				t.Errorf("a plan with %s:\n%s", bad, p)
				break
			}
		}
	}
}

// A replica's hints (lastSeqs) stand in for the probe of each topic's last
// seq: here the topic's last event is taken out behind the replica's back,
// so that only a group that used the hint numbers the next event 3. And
// for the probe of its largest clock, when its clocks are then lowered
// behind its back.
func TestLastSeqHintsSkipTheProbe(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	ev := func(id string) eventagg.Event {
		return eventagg.Event{Topic: "t", EventID: id, Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
	}
	if _, err := s.Append(ctx, []eventagg.Event{ev("a"), ev("b")}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM events WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, err := s.Append(ctx, []eventagg.Event{ev("c")}, 0)
	if err != nil || out[0].Seq != 3 {
		t.Fatalf("%+v, %v; want seq 3 from the hint", out, err)
	}

	// The same for the largest clock, which an event sent without one takes.
	clocked := eventagg.Event{Topic: "c", EventID: "a", Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`), HasClock: true, Clock: 5}
	without := func(id string) eventagg.Event {
		return eventagg.Event{Topic: "c", EventID: id, Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
	}
	if _, err := s.Append(ctx, []eventagg.Event{clocked, without("b")}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE events SET clock = 0`); err != nil {
		t.Fatal(err)
	}
	out, err = s.Append(ctx, []eventagg.Event{without("c")}, 0)
	if err != nil || out[0].Clock != 5 {
		t.Fatalf("%+v, %v; want clock 5 from the hint", out, err)
	}
}

// A hint holds only while the bucket's token is the one this replica's last
// commit there wrote. Here a commit of replica a is lost (as in a failover
// to a standby that had not received it, or a restore): its events go and
// its bucket row is put back as it was. Replica b then adds as many events
// to another topic of the same bucket, which brings the bucket back to the
// same position. a's next event in the topic must take the seq after what
// is stored, and the largest clock stored; the hints it learned from the
// lost commit would give seq 4 and clock 9.
func TestLastSeqHintsSurviveALostCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.FreshSchema(t)
	a, b := openOn(t, url), openOn(t, url)
	ev := func(topic, id string) eventagg.Event {
		return eventagg.Event{Topic: topic, EventID: id, Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
	}
	var first []eventagg.Event // 65 topics: the first and the last share a bucket
	for i := range buckets + 1 {
		first = append(first, ev(fmt.Sprintf("t%02d", i), "x"))
	}
	if _, err := a.Append(ctx, first, 0); err != nil {
		t.Fatal(err)
	}
	var topic, other string
	if err := a.pool.QueryRow(ctx, `SELECT min(name), max(name) FROM topics GROUP BY id % 64 HAVING count(*) = 2`).Scan(&topic, &other); err != nil {
		t.Fatal(err)
	}
	saved := `CREATE TABLE saved AS SELECT * FROM buckets`
	if _, err := a.pool.Exec(ctx, saved); err != nil {
		t.Fatal(err)
	}
	lost := []eventagg.Event{ev(topic, "lost1"), ev(topic, "lost2")}
	lost[0].HasClock, lost[0].Clock = true, 9 // the topic's largest clock, had it not been lost
	if _, err := a.Append(ctx, lost, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(ctx, `DELETE FROM events WHERE event_id LIKE 'lost%';
		UPDATE buckets u SET last_pos = s.last_pos, token = s.token FROM saved s WHERE s.id = u.id`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, []eventagg.Event{ev(other, "b1"), ev(other, "b2")}, 0); err != nil {
		t.Fatal(err)
	}
	out, err := a.Append(ctx, []eventagg.Event{ev(topic, "next")}, 0)
	if err != nil || out[0].Seq != 2 || out[0].Clock != 0 {
		t.Fatalf("%s after the lost commit: %+v, %v; want seq 2, clock 0", topic, out, err)
	}
}

// A topic whose row the group created has no events, and its hint says so
// (seq 0, no probe), but only while its bucket's token here is the one from
// before the row was made: a commit of this replica learned since could
// have added to the topic (a concurrent Append that found the row made),
// and a bucket this replica knows nothing of has no token to check.
func TestCreatedTopicHints(t *testing.T) {
	c := newLastSeqs(100)
	c.learn(1, map[int32]int64{5: 0}, nil) // this replica's commit in bucket 5
	before := c.tokens()
	hint := func(created bool, id int64) int64 {
		seqs, clocks, _, committed := c.hints([]string{"new"}, []int64{id}, []bool{created}, &before, []int32{int32(id % buckets)})
		if seqs[0] != clocks[0] || committed[0] {
			t.Fatalf("seq hint %d, clock hint %d, committed %v: want the same hints, not from a commit", seqs[0], clocks[0], committed[0])
		}
		return seqs[0]
	}
	if h := hint(true, 5); h != 0 {
		t.Errorf("created topic in a known bucket: hint %d, want 0", h)
	}
	if h := hint(false, 5); h != -1 {
		t.Errorf("topic not created: hint %d, want -1 (unknown)", h)
	}
	if h := hint(true, 6); h != -1 {
		t.Errorf("created topic in a bucket never written here: hint %d, want -1", h)
	}
	c.learn(2, map[int32]int64{5: 1}, map[string]topicSeq{"other": {bucket: 5, seq: 1}})
	if h := hint(true, 5); h != -1 {
		t.Errorf("created topic after a later commit in its bucket: hint %d, want -1", h)
	}
}

// A topic the group created starts from a hint (seq 0, see lastSeqs.hints)
// but its row is still probed: it was committed without waiting for its
// flush, and a failover between its creation and the group can take it.
// Here the group stands on a created topic whose row is not there (an id
// in a bucket this replica has written, so that the hint holds): the
// append must fail and store nothing.
func TestCreatedTopicVanished(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	ev := func(topic, id string) eventagg.Event {
		return eventagg.Event{Topic: topic, EventID: id, Timestamp: time.Now(), Source: "s", Payload: []byte(`{}`)}
	}
	if _, err := s.Append(ctx, []eventagg.Event{ev("x", "a")}, 0); err != nil {
		t.Fatal(err)
	}
	id, _ := s.knownTopics.Get("x")
	g := newGroup([]eventagg.Event{ev("lost", "a")})
	g.topicIDs, g.created, g.tokensBefore = []int64{id + buckets}, []bool{true}, s.lastSeqs.tokens()
	g.buckets = bucketsOf(g.topicIDs)
	if seqs, _, _, _ := s.lastSeqs.hints(g.topics, g.topicIDs, g.created, &g.tokensBefore, g.buckets); seqs[0] != 0 {
		t.Fatalf("hint %d, want 0: the test needs the created topic's hint to hold", seqs[0])
	}
	if _, err := s.append(ctx, g, 0); err == nil {
		t.Fatal("a group stood on a created topic without a row")
	}
	var events int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil || events != 1 {
		t.Fatalf("%d events (%v), want 1", events, err)
	}
}
