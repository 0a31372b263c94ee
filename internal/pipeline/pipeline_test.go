package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/sqlite"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// gatedStore wraps a real store; while gate is non-nil, each Append first
// announces itself on entered and then waits for gate to be closed.
type gatedStore struct {
	eventagg.Store
	mu      sync.Mutex
	gate    chan struct{}
	entered chan int // number of events in the Append that is waiting
	groups  []int    // size of each committed group
	fail    error
}

func (g *gatedStore) Append(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	g.mu.Lock()
	gate, fail := g.gate, g.fail
	g.mu.Unlock()
	if gate != nil {
		g.entered <- len(events)
		<-gate
	}
	if fail != nil {
		return nil, fail
	}
	out, err := g.Store.Append(ctx, events, rejected)
	if err == nil {
		g.mu.Lock()
		g.groups = append(g.groups, len(events))
		g.mu.Unlock()
	}
	return out, err
}

func newStore(t *testing.T) eventagg.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closePipe(t *testing.T, p *pipeline.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

type ingestResult struct {
	out []eventagg.Appended
	err error
}

func ingestAsync(p *pipeline.Pipeline, events ...eventagg.Event) chan ingestResult {
	ch := make(chan ingestResult, 1)
	go func() {
		out, err := p.Ingest(context.Background(), events, 0)
		ch <- ingestResult{out, err}
	}()
	return ch
}

// waitQueued waits until the queue holds n events; the condition is
// checked, not slept on.
func waitQueued(t *testing.T, p *pipeline.Pipeline, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d events, want %d", p.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// While one group commits, the requests that arrive meanwhile are committed
// together in the next transaction, and nobody hears back before its own
// group has committed.
func TestGroupCommit(t *testing.T) {
	g := &gatedStore{Store: newStore(t), gate: make(chan struct{}), entered: make(chan int, 10)}
	p := pipeline.Start(g, pipeline.Config{}, nil)
	defer closePipe(t, p)

	first := ingestAsync(p, storetest.Ev("g", "0", 0))
	if n := <-g.entered; n != 1 {
		t.Fatalf("first group has %d events", n)
	}
	var rest []chan ingestResult
	for i := 1; i <= 5; i++ {
		rest = append(rest, ingestAsync(p, storetest.Ev("g", fmt.Sprint(i), 0), storetest.Ev("g", "0", 0)))
	}
	waitQueued(t, p, 1+10)
	select {
	case r := <-first:
		t.Fatalf("answered before commit: %+v", r)
	default:
	}
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
	if r := <-first; r.err != nil || r.out[0].Seq != 1 {
		t.Fatalf("first: %+v", r)
	}
	seqs := map[int64]bool{}
	for _, ch := range rest {
		r := <-ch
		if r.err != nil || !r.out[1].Duplicate || r.out[1].Seq != 1 || r.out[0].Duplicate {
			t.Fatalf("rest: %+v", r)
		}
		seqs[r.out[0].Seq] = true
	}
	if len(seqs) != 5 || !seqs[2] || !seqs[6] {
		t.Fatalf("seqs %v", seqs)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if fmt.Sprint(g.groups) != "[1 10]" {
		t.Fatalf("groups committed: %v, want [1 10]", g.groups)
	}
}

// A full queue fails fast with ErrQueueFull instead of growing, and takes
// requests again once the writer has caught up.
func TestQueueFullFailsFast(t *testing.T) {
	g := &gatedStore{Store: newStore(t), gate: make(chan struct{}), entered: make(chan int, 10)}
	p := pipeline.Start(g, pipeline.Config{MaxQueued: 4}, nil)
	defer closePipe(t, p)

	first := ingestAsync(p, storetest.Ev("q", "1", 0), storetest.Ev("q", "2", 0))
	<-g.entered
	second := ingestAsync(p, storetest.Ev("q", "3", 0), storetest.Ev("q", "4", 0))
	waitQueued(t, p, 4)
	if !p.Saturated() {
		t.Fatal("full queue is not saturated")
	}
	if _, err := p.Ingest(context.Background(), []eventagg.Event{storetest.Ev("q", "5", 0)}, 0); !errors.Is(err, eventagg.ErrQueueFull) {
		t.Fatalf("Ingest on full queue: %v", err)
	}
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
	for _, ch := range []chan ingestResult{first, second} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if out, err := p.Ingest(context.Background(), []eventagg.Event{storetest.Ev("q", "5", 0)}, 0); err != nil || out[0].Seq != 5 {
		t.Fatalf("after drain: %v %v", out, err)
	}
}

// A failed commit reaches every caller of the group, and stores nothing.
func TestCommitFailureReachesEveryCaller(t *testing.T) {
	boom := &eventagg.Error{Code: eventagg.EUNAVAILABLE, Message: "store unavailable: disk full"}
	g := &gatedStore{Store: newStore(t), gate: make(chan struct{}), entered: make(chan int, 10), fail: boom}
	p := pipeline.Start(g, pipeline.Config{}, nil)
	defer closePipe(t, p)
	first := ingestAsync(p, storetest.Ev("f", "1", 0))
	<-g.entered
	second := ingestAsync(p, storetest.Ev("f", "2", 0))
	waitQueued(t, p, 2)
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
	for _, ch := range []chan ingestResult{first, second} {
		if r := <-ch; !errors.Is(r.err, boom) {
			t.Fatalf("got %v, want %v", r.err, boom)
		}
	}
	st, err := g.Stats(context.Background())
	if err != nil || st.Received != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

// Close answers everything queued, lets the consumer catch up, and refuses
// new requests.
func TestCloseDrains(t *testing.T) {
	g := &gatedStore{Store: newStore(t), gate: make(chan struct{}), entered: make(chan int, 10)}
	p := pipeline.Start(g, pipeline.Config{}, nil)
	var chs []chan ingestResult
	chs = append(chs, ingestAsync(p, storetest.Ev("c", "0", 0)))
	<-g.entered
	for i := 1; i < 20; i++ {
		chs = append(chs, ingestAsync(p, storetest.Ev("c", fmt.Sprint(i), 0)))
	}
	waitQueued(t, p, 20)
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()
	g.mu.Lock()
	close(g.gate)
	g.gate = nil
	g.mu.Unlock()
	for _, ch := range chs {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	st, err := g.Stats(context.Background())
	if err != nil || st.Stored != 20 || st.Processed != 20 {
		t.Fatalf("after close: %+v %v", st, err)
	}
	if _, err := p.Ingest(context.Background(), []eventagg.Event{storetest.Ev("c", "x", 0)}, 0); !errors.Is(err, eventagg.ErrClosed) {
		t.Fatalf("Ingest after Close: %v", err)
	}
}

// Events stored before a restart but never processed are processed by the
// next pipeline, once.
func TestConsumerCatchesUpAfterRestart(t *testing.T) {
	s := newStore(t)
	if _, err := s.Append(context.Background(), []eventagg.Event{storetest.Ev("r", "1", 0), storetest.Ev("r", "2", 0)}, 0); err != nil {
		t.Fatal(err)
	}
	p := pipeline.Start(s, pipeline.Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	closePipe(t, p)
	st, err := s.Stats(context.Background())
	if err != nil || st.Processed != 2 || st.Pending() != 0 {
		t.Fatalf("%+v %v", st, err)
	}
}
