package client

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Batching says when a Publisher sends its buffer: when it holds MaxEvents
// events or MaxBytes of encoded events, or Interval after the first event
// was buffered.
type Batching struct {
	MaxEvents int
	MaxBytes  int
	Interval  time.Duration
}

// DefaultBatching fits well inside the server's default limits (10,000
// events, 16 MiB per request).
var DefaultBatching = Batching{MaxEvents: 500, MaxBytes: 1 << 20, Interval: 200 * time.Millisecond}

// Totals add up everything a Publisher has sent.
type Totals struct {
	Accepted, Duplicates, Conflicts, Rejected, Retries, Requests int
	// FirstErrors holds the first few rejections and conflicts, "index:
	// message" with the index counted over all events added.
	FirstErrors []string
}

const keepErrors = 5

// Publisher buffers events and sends them in batches. Add blocks while a
// full buffer is being sent, which is the back-pressure a publisher wants.
// It is safe for concurrent use.
type Publisher struct {
	c   *Client
	cfg Batching

	mu      sync.Mutex // guards buf, bytes, first, base
	buf     []json.RawMessage
	bytes   int
	first   time.Time // when the oldest buffered event was added
	base    int       // index of buf[0] among all added events
	sendMu  sync.Mutex
	totals  Totals
	lastErr error

	stop chan struct{}
	done chan struct{}
}

// NewPublisher returns a batching publisher on c. Zero fields of b take
// DefaultBatching's values; Interval < 0 turns timed flushes off.
func (c *Client) NewPublisher(b Batching) *Publisher {
	if b.MaxEvents <= 0 {
		b.MaxEvents = DefaultBatching.MaxEvents
	}
	if b.MaxBytes <= 0 {
		b.MaxBytes = DefaultBatching.MaxBytes
	}
	if b.Interval == 0 {
		b.Interval = DefaultBatching.Interval
	}
	p := &Publisher{c: c, cfg: b, stop: make(chan struct{}), done: make(chan struct{})}
	go p.timer()
	return p
}

// Add buffers one event, sending the buffer first if the event would not fit.
func (p *Publisher) Add(ctx context.Context, e Event) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return p.AddRaw(ctx, raw)
}

// AddRaw buffers one encoded event.
func (p *Publisher) AddRaw(ctx context.Context, raw json.RawMessage) error {
	p.mu.Lock()
	if len(p.buf) > 0 && p.bytes+len(raw)+1 > p.cfg.MaxBytes {
		batch, base := p.take()
		p.mu.Unlock()
		if err := p.send(ctx, batch, base); err != nil {
			return err
		}
		p.mu.Lock()
	}
	if len(p.buf) == 0 {
		p.first = p.c.clock.Now()
	}
	p.buf = append(p.buf, raw)
	p.bytes += len(raw) + 1
	if len(p.buf) < p.cfg.MaxEvents && p.bytes < p.cfg.MaxBytes {
		p.mu.Unlock()
		return nil
	}
	batch, base := p.take()
	p.mu.Unlock()
	return p.send(ctx, batch, base)
}

// take empties the buffer; p.mu is held.
func (p *Publisher) take() ([]json.RawMessage, int) {
	batch, base := p.buf, p.base
	p.base += len(batch)
	p.buf, p.bytes = nil, 0
	return batch, base
}

// Flush sends everything buffered and waits for the answer.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	batch, base := p.take()
	p.mu.Unlock()
	return p.send(ctx, batch, base)
}

// Close stops the timer and delivers everything buffered.
func (p *Publisher) Close(ctx context.Context) error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return p.Flush(ctx)
}

// Totals returns what has been sent so far.
func (p *Publisher) Totals() Totals {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	t := p.totals
	t.FirstErrors = append([]string(nil), t.FirstErrors...)
	return t
}

// Err returns the last delivery error of a timed flush, which has no caller
// to return it to.
func (p *Publisher) Err() error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.lastErr
}

func (p *Publisher) send(ctx context.Context, batch []json.RawMessage, base int) error {
	if len(batch) == 0 {
		return nil
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	res, err := p.c.PublishRaw(ctx, batch...)
	p.totals.Retries += res.Retries
	if err != nil {
		p.lastErr = err
		return err
	}
	p.totals.Requests++
	p.totals.Accepted += res.Accepted
	p.totals.Duplicates += res.Duplicates
	p.totals.Conflicts += res.Conflicts
	p.totals.Rejected += res.Rejected
	for _, v := range res.Results {
		if len(p.totals.FirstErrors) == keepErrors {
			break
		}
		switch v.Status {
		case "rejected":
			p.totals.FirstErrors = append(p.totals.FirstErrors, strconv.Itoa(base+v.Index)+": "+v.Error)
		case "conflict":
			p.totals.FirstErrors = append(p.totals.FirstErrors, strconv.Itoa(base+v.Index)+
				": conflict: its (topic, event_id) is stored as seq "+strconv.FormatInt(v.Seq, 10)+" with other content; nothing stored")
		}
	}
	return nil
}

// timer flushes a buffer that has waited Interval.
func (p *Publisher) timer() {
	defer close(p.done)
	if p.cfg.Interval < 0 {
		<-p.stop
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-p.stop; cancel() }()
	for {
		if err := p.c.clock.Sleep(ctx, p.cfg.Interval/2); err != nil {
			return
		}
		p.mu.Lock()
		due := len(p.buf) > 0 && p.c.clock.Now().Sub(p.first) >= p.cfg.Interval
		var batch []json.RawMessage
		var base int
		if due {
			batch, base = p.take()
		}
		p.mu.Unlock()
		if due {
			// The error is kept for Err; the events are lost to this
			// publisher only after the retry policy gave up.
			_ = p.send(context.Background(), batch, base)
		}
	}
}
