package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/eventagg/eventagg"
)

// consumer applies stored events to the aggregates through Store.Process.
// Exactly-once comes from the store (offset and effects in one
// transaction); this loop only decides when to run it.
type consumer struct {
	timeout time.Duration // bounds each pass
	store   eventagg.Store
	batch   int
	logger  *slog.Logger

	wakeCh chan struct{} // capacity 1: a pending wake-up is never lost
	stopCh chan struct{}
	done   chan struct{}

	mu   sync.Mutex
	gen  uint64        // bumped by every wake
	idle chan struct{} // closed while caught up with gen
}

// process runs one pass, bounded by the store timeout: a store that stops
// answering must not hold the consumer past the link's return.
func (c *consumer) process() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	return c.store.Process(ctx, c.batch)
}

func newConsumer(store eventagg.Store, batch int, timeout time.Duration, logger *slog.Logger) *consumer {
	c := &consumer{
		store: store, batch: batch, timeout: timeout, logger: logger,
		wakeCh: make(chan struct{}, 1),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
		idle:   make(chan struct{}),
	}
	// Events stored before a restart may be unprocessed: start not idle,
	// with one wake-up queued.
	c.wake()
	return c
}

// wake tells the consumer that new events were committed.
func (c *consumer) wake() {
	c.mu.Lock()
	c.gen++
	select {
	case <-c.idle:
		c.idle = make(chan struct{})
	default:
	}
	c.mu.Unlock()
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

// retryDelay spaces out retries after a failed Process (disk full, say).
const retryDelay = 500 * time.Millisecond

// pace is the least time between two consumer passes while events keep
// arriving. Every pass is a transaction with its own fsync on the one write
// connection; without a pace, under load the consumer would commit once per
// writer group and take half the writer's fsyncs. With it, the consumer
// applies many groups per transaction, for at most this much extra lag.
const pace = 20 * time.Millisecond

// poll is how often an idle consumer looks for work it was not woken for:
// events committed by another replica on a shared database. Correctness
// never depends on it; it only bounds their processing lag.
const poll = time.Second

func (c *consumer) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		gen := c.gen
		c.mu.Unlock()
		n, err := c.process()
		switch {
		case err != nil:
			c.logger.Error("consumer failed; will retry", "err", err)
			select {
			case <-c.stopCh:
				return
			case <-time.After(retryDelay):
			}
			continue
		case n >= c.batch:
			continue // a backlog: catch up at full speed
		case n > 0:
			// Caught up for now. Under load more is committed within
			// milliseconds: pace the next pass so that it applies many
			// groups at once. If nothing comes, that pass finds nothing
			// and the consumer goes idle below.
			if !c.rest(pace) {
				c.drain()
				return
			}
			continue
		}
		// Caught up with every commit announced before gen was read.
		c.mu.Lock()
		if c.gen == gen {
			select {
			case <-c.idle:
			default:
				close(c.idle)
			}
		}
		c.mu.Unlock()
		select {
		case <-c.wakeCh:
		case <-time.After(poll):
		case <-c.stopCh:
			c.drain()
			return
		}
		if !c.rest(pace) {
			c.drain()
			return
		}
	}
}

// rest waits d, or less if asked to stop; it reports whether to go on.
func (c *consumer) rest(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-c.stopCh:
		return false
	}
}

// drain processes what is left at shutdown, so a clean stop leaves nothing
// pending.
func (c *consumer) drain() {
	for {
		n, err := c.process()
		if err != nil {
			c.logger.Error("consumer failed at shutdown; events stay pending until restart", "err", err)
			return
		}
		if n == 0 {
			return
		}
	}
}

func (c *consumer) waitIdle(ctx context.Context) error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop asks the consumer to catch up and end, and waits for it.
func (c *consumer) stop(ctx context.Context) error {
	select {
	case <-c.stopCh:
	default:
		close(c.stopCh)
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
