package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/store/sqlite"
)

var crashTopics = []string{"orders", "payments", "audit"}

// publisher sends overlapping batches at least once: a batch that got no
// 200 (connection refused or reset by the kill) is sent again, to whatever
// server is up next, until it is acknowledged.
type publisher struct {
	id    int
	batch int
}

func (pub *publisher) body() (string, []string) {
	var events, keys []string
	for i := 0; i < 20; i++ {
		topic := crashTopics[(pub.id+i)%len(crashTopics)]
		// Ids repeat across publishers and batches: about a third are
		// dups. The content is the key's, as a retry's is (other content
		// would be a conflict).
		id := fmt.Sprint((pub.id*7 + pub.batch*13 + i*3) % 1500)
		b, _ := json.Marshal(map[string]any{"topic": topic, "event_id": id, "timestamp": "2026-11-24T10:00:00Z",
			"source": "crash-test", "payload": map[string]string{"key": topic + "/" + id}})
		events = append(events, string(b))
		keys = append(keys, topic+"/"+id)
	}
	return "[" + strings.Join(events, ",") + "]", keys
}

// run sends the publisher's batches until ctx ends, at least once: a batch
// that gets no 200 (connection refused or reset by a kill, 503 while the
// store is down) is sent again, to pick(n) for the n-th attempt, and every
// 200 goes into the ledger.
func (pub *publisher) run(ctx context.Context, ledger *ackLedger, pick func(attempt int) string) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		body, keys := pub.body()
		req, _ := http.NewRequestWithContext(ctx, "POST", pick(attempt)+"/publish", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpc.Do(req)
		if err != nil {
			// Back off a little, as a client does: a server that is down
			// refuses at once, and publishers retrying in a tight loop
			// would take the CPU its restart needs.
			time.Sleep(2 * time.Millisecond)
			continue
		}
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil && resp.StatusCode == 200 {
			ledger.record(keys, b)
			pub.batch++
		}
	}
}

// runPublishers starts n publishers (ids from firstID) sending to
// pick(publisher, attempt) and returns a stop that cancels them and waits
// until each has stopped. The test's end stops them too, so a test that
// fails before its own stop leaves none running into the tests after it.
func runPublishers(t *testing.T, n, firstID int, ledger *ackLedger, pick func(pub, attempt int) string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pub := &publisher{id: firstID + i}
			pub.run(ctx, ledger, func(attempt int) string { return pick(i, attempt) })
		}(i)
	}
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// ackLedger records every event a server acknowledged.
type ackLedger struct {
	mu    sync.Mutex
	acked map[string]int64 // topic/id → seq from the verdict
	n     int
	errs  []string
}

func (l *ackLedger) record(keys []string, body []byte) {
	var res struct {
		Results []struct {
			Status string `json:"status"`
			Seq    int64  `json:"seq"`
		} `json:"results"`
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != len(keys) {
		l.errs = append(l.errs, fmt.Sprintf("bad 200 body %q: %v", body, err))
		return
	}
	for i, r := range res.Results {
		if r.Status != "accepted" && r.Status != "duplicate" {
			l.errs = append(l.errs, fmt.Sprintf("%s: status %s", keys[i], r.Status))
		}
		if prev, ok := l.acked[keys[i]]; ok && prev != r.Seq {
			l.errs = append(l.errs, fmt.Sprintf("%s acknowledged with seq %d and %d", keys[i], prev, r.Seq))
		}
		l.acked[keys[i]] = r.Seq
	}
	l.n++
}

func (l *ackLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// TestCrashLosesNothingAcknowledged SIGKILLs the real binary repeatedly
// while publishers hammer it, restarts it on the same file, and proves that
// every acknowledged event is stored exactly once with the seq it was
// acknowledged with, that seqs are gap-free, and that /stats adds up.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	ledger := &ackLedger{acked: map[string]int64{}}
	const kills = 5

	for round := 0; round <= kills; round++ {
		// Room for only 64 recent dedup keys: merges into dedup_keys run
		// all the time, so kills land in the middle of them too.
		p := startServe(t, "--db", db, "--recent-keys", "64")
		if round == kills {
			verifyCrashState(t, p, ledger)
			return
		}
		crashRound(t, ledger, round*crashPublishers, []*proc{p}, func(int, int) string { return p.url }, p.kill)
	}
}

// crashPublishers is how many publishers a crash round runs.
const crashPublishers = 6

// crashRound runs publishers (ids from firstID) against pick(publisher,
// attempt) until the round has seen 150 more acknowledgements, then calls
// crash while requests are still in flight, and returns once every
// publisher has stopped. A server in watch that dies on its own fails the
// test.
func crashRound(t *testing.T, ledger *ackLedger, firstID int, watch []*proc, pick func(pub, attempt int) string, crash func()) {
	t.Helper()
	target := ledger.count() + 150
	stop := runPublishers(t, crashPublishers, firstID, ledger, pick)
	for ledger.count() < target {
		for _, p := range watch {
			select {
			case err := <-p.exited:
				t.Fatalf("server died on its own: %v\n%s", err, p.log)
			default:
			}
		}
		waitSome()
	}
	crash()
	stop()
}

func verifyCrashState(t *testing.T, p *proc, ledger *ackLedger) {
	ledger.mu.Lock()
	defer ledger.mu.Unlock()
	for _, e := range ledger.errs {
		t.Error(e)
	}
	// Servers may still commit requests whose publishers gave up when the
	// load stopped: read stats, listing and stats again until no commit
	// landed in between, so the three describe the same state.
	var s stats
	var listing map[string][]stored
	for attempt := 0; ; attempt++ {
		s = p.waitProcessed()
		listing = map[string][]stored{}
		for _, topic := range crashTopics {
			listing[topic] = p.listAll(topic)
		}
		if again := p.waitProcessed(); again.Stored == s.Stored && again.Received == s.Received {
			break
		}
		if attempt == 20 {
			t.Fatal("commits keep landing after the load stopped")
		}
	}
	storedSeq, total := checkListing(t, listing)
	for key, seq := range ledger.acked {
		got, ok := storedSeq[key]
		if !ok {
			t.Fatalf("acknowledged %s is lost", key)
		}
		if got != seq {
			t.Fatalf("acknowledged %s with seq %d, stored with %d", key, seq, got)
		}
	}
	if s.Received != s.UniqueProcessed+s.DuplicateDrop+s.Conflicts || s.Conflicts != 0 || s.UniqueProcessed != total || s.Stored != total {
		t.Fatalf("stats do not add up: %+v, %d stored", s, total)
	}
	for _, pt := range s.PerTopic {
		if pt.Processed != pt.LastSeq {
			t.Fatalf("topic %s: processed %d, last seq %d: processed twice or skipped", pt.Topic, pt.Processed, pt.LastSeq)
		}
	}
	t.Logf("%d acknowledged keys, %d stored, %d received, %d duplicates", len(ledger.acked), total, s.Received, s.DuplicateDrop)
}

// checkListing checks that each topic's listing has seqs 1, 2, … and no
// event twice, and returns each topic/event_id's seq and how many there are.
func checkListing(t *testing.T, listing map[string][]stored) (map[string]int64, int64) {
	t.Helper()
	storedSeq := map[string]int64{}
	var total int64
	for topic, events := range listing {
		for i, e := range events {
			if e.Seq != int64(i+1) {
				t.Fatalf("%s: event %d has seq %d: gap or disorder", topic, i, e.Seq)
			}
			key := topic + "/" + e.EventID
			if _, dup := storedSeq[key]; dup {
				t.Fatalf("%s stored twice", key)
			}
			storedSeq[key] = e.Seq
		}
		total += int64(len(events))
	}
	return storedSeq, total
}

// TestSIGTERMDrains: on SIGTERM the service answers what is in flight, lets
// the consumer catch up and exits 0, leaving nothing pending on disk.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	db := filepath.Join(t.TempDir(), "term.db")
	p := startServe(t, "--db", db)
	pub := &publisher{id: 1}
	for i := 0; i < 20; i++ {
		body, _ := pub.body()
		resp, err := httpc.Post(p.url+"/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pub.batch++
	}
	if err := p.terminate(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log)
	}
	if !strings.Contains(p.log.String(), "stopped cleanly") {
		t.Errorf("no clean stop in log:\n%s", p.log)
	}
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stats(context.Background())
	if err != nil || s.Received != 400 || s.Pending() != 0 || s.Processed != s.Stored {
		t.Fatalf("after SIGTERM: %+v %v", s, err)
	}
}
