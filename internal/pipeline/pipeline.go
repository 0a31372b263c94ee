// Package pipeline moves published events from the HTTP handlers to the
// store: a bounded queue, one group-committing writer, and the consumer.
//
//	handlers ──Ingest──▶ queue ──▶ writer: one transaction per group ──▶ replies
//	                                  │ wake
//	                                  ▼
//	                               consumer: Process in seq order
package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventagg/eventagg"
)

// Config bounds the pipeline's memory and batch sizes.
type Config struct {
	// MaxQueued is how many events may wait for the writer; beyond it
	// Ingest fails fast with ErrQueueFull instead of growing memory.
	MaxQueued int
	// MaxGroup is the most events one writer transaction takes.
	MaxGroup int
	// ProcessBatch is the most events one consumer transaction applies.
	ProcessBatch int
	// StoreTimeout bounds every call the writer and the consumer make to
	// the store: a database that stops answering (a partition that drops
	// packets, a stalled disk) fails the group with 503 after it instead
	// of holding every publisher for ever. Longer than SQLite's busy
	// timeout (10 s), so that a lock held elsewhere is reported as such.
	StoreTimeout time.Duration
	// OnCommit, if set, is told the size of every committed group.
	OnCommit func(events int)
	// OnAppend, if set, is given every committed group with the store's
	// answers, before anyone is told of the commit (the subscribers' feed
	// takes the new events from it instead of reading them back).
	OnAppend func(events []eventagg.Event, out []eventagg.Appended)
}

// DefaultConfig is what `eventagg serve` uses unless told otherwise.
var DefaultConfig = Config{MaxQueued: 100_000, MaxGroup: 10_000, ProcessBatch: 10_000, StoreTimeout: 15 * time.Second}

// Pipeline implements eventagg.Ingester on top of a Store.
type Pipeline struct {
	store  eventagg.Store
	cfg    Config
	logger *slog.Logger

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
	reqs   chan *request
	queued atomic.Int64 // events in reqs, not yet committed

	consumer   *consumer
	writerDone chan struct{}

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced at every successful commit

	lastErr atomic.Pointer[commitFailure] // the last commit's failure; nil after a success

	stopWatch context.CancelFunc // ends the watch of other replicas' commits
}

// request is one Ingest call waiting for its group to commit.
type request struct {
	events   []eventagg.Event
	rejected int
	reply    chan reply // buffered: the writer never waits for a caller
}

type reply struct {
	out []eventagg.Appended
	err error
}

var _ eventagg.Ingester = (*Pipeline)(nil)

// Start starts the writer and the consumer. Close stops them.
func Start(store eventagg.Store, cfg Config, logger *slog.Logger) *Pipeline {
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultConfig.MaxQueued
	}
	if cfg.MaxGroup <= 0 {
		cfg.MaxGroup = DefaultConfig.MaxGroup
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProcessBatch <= 0 {
		cfg.ProcessBatch = DefaultConfig.ProcessBatch
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultConfig.StoreTimeout
	}
	p := &Pipeline{
		store:  store,
		cfg:    cfg,
		logger: logger,
		// Every request holds at least one unit of the MaxQueued budget, so
		// this channel can never be full while the budget has room.
		reqs:       make(chan *request, cfg.MaxQueued),
		consumer:   newConsumer(store, cfg.ProcessBatch, cfg.StoreTimeout, logger),
		writerDone: make(chan struct{}),
		notify:     make(chan struct{}),
	}
	go p.consumer.run()
	go p.write()
	ctx, cancel := context.WithCancel(context.Background())
	p.stopWatch = cancel
	if w, ok := store.(watcher); ok {
		go p.watch(w.Watch(ctx))
	}
	return p
}

// watcher is a store that reports commits made by other processes (the
// PostgreSQL store, through LISTEN/NOTIFY).
type watcher interface {
	Watch(ctx context.Context) <-chan struct{}
}

// watch turns other replicas' commits into the same wake-ups as our own, so
// consumers and subscribers react at once instead of at their next poll.
func (p *Pipeline) watch(commits <-chan struct{}) {
	for range commits {
		p.consumer.wake()
		p.announceCommit()
	}
}

// Ingest queues the events and waits until their group is committed. It
// fails fast with ErrQueueFull when the queue has no room and ErrClosed
// after Close. If ctx ends first, Ingest returns ctx.Err(), but the events
// may still be committed: the publisher's retry is then a duplicate.
func (p *Pipeline) Ingest(ctx context.Context, events []eventagg.Event, rejected int) ([]eventagg.Appended, error) {
	weight := int64(max(len(events), 1))
	req := &request{events: events, rejected: rejected, reply: make(chan reply, 1)}

	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, eventagg.ErrClosed
	}
	if p.queued.Add(weight) > int64(p.cfg.MaxQueued) {
		p.queued.Add(-weight)
		p.mu.RUnlock()
		return nil, eventagg.ErrQueueFull
	}
	p.reqs <- req // cannot block: see the channel's capacity
	p.mu.RUnlock()

	select {
	case r := <-req.reply:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Committed returns a channel that is closed when the next group commits.
// Subscribers take it before reading the store, so no commit slips between
// their read and their wait.
func (p *Pipeline) Committed() <-chan struct{} {
	p.notifyMu.Lock()
	defer p.notifyMu.Unlock()
	return p.notify
}

func (p *Pipeline) announceCommit() {
	p.notifyMu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	p.notifyMu.Unlock()
}

type commitFailure struct {
	err error
	at  time.Time
}

// holdDown is how long readiness stays off after a failed commit. A store
// that reads fine can still refuse writes (disk full, read-only file), and a
// tiny probe write may pass where real groups fail; so readiness comes back
// only after a quiet spell, and the next real commit decides. Like a circuit
// breaker's half-open state.
const holdDown = 5 * time.Second

// CommitError is the error of a commit that failed within the hold-down
// period and has not been followed by a successful one; nil otherwise.
func (p *Pipeline) CommitError() error {
	if f := p.lastErr.Load(); f != nil && time.Since(f.at) < holdDown {
		return f.err
	}
	return nil
}

// Queued is the number of events waiting for the writer.
func (p *Pipeline) Queued() int { return int(p.queued.Load()) }

// Saturated reports whether the queue is at least 90% full: /readyz turns
// not-ready before publishers start getting 503s.
func (p *Pipeline) Saturated() bool {
	return p.queued.Load()*10 >= int64(p.cfg.MaxQueued)*9
}

// WaitIdle blocks until every event committed before the call has been
// processed by the consumer, or ctx ends.
func (p *Pipeline) WaitIdle(ctx context.Context) error { return p.consumer.waitIdle(ctx) }

// Close stops taking requests, commits and answers everything queued, lets
// the consumer catch up, and returns. It does not close the store.
func (p *Pipeline) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.reqs)
	}
	p.mu.Unlock()
	p.stopWatch()
	select {
	case <-p.writerDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.consumer.stop(ctx)
}
