package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/eventagg/eventagg"
)

// write is the one goroutine that commits. It blocks for the first request,
// then takes whatever else is already queued (up to MaxGroup events) and
// commits all of it in one transaction: under load, many requests share one
// fsync; when idle, a lone request commits at once.
func (p *Pipeline) write() {
	defer close(p.writerDone)
	var group []*request
	for first := range p.reqs {
		group = append(group[:0], first)
		n := len(first.events)
	fill:
		for n < p.cfg.MaxGroup {
			select {
			case r, ok := <-p.reqs:
				if !ok {
					break fill
				}
				group = append(group, r)
				n += len(r.events)
			default:
				break fill
			}
		}
		p.commit(group, n)
	}
}

// commit appends one group and answers its requests.
func (p *Pipeline) commit(group []*request, n int) {
	events := make([]eventagg.Event, 0, n)
	rejected := 0
	var weight int64
	for _, r := range group {
		events = append(events, r.events...)
		rejected += r.rejected
		weight += int64(max(len(r.events), 1))
	}
	// Not the callers' contexts: the group is shared, and a caller that
	// gave up must not abort the others' commit.
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StoreTimeout)
	out, err := p.store.Append(ctx, events, rejected)
	if err != nil && ctx.Err() != nil {
		err = eventagg.Errorf(eventagg.EUNAVAILABLE, "commit: the store gave no answer within %v (--store-timeout); whether it took the events is unknown, so retry them: a retry of a stored event is a duplicate", p.cfg.StoreTimeout)
	}
	cancel()
	p.queued.Add(-weight)
	if err != nil {
		p.lastErr.Store(&commitFailure{err: err, at: time.Now()})
		p.logger.Error("commit failed", "events", n, "requests", len(group), "err", err)
		for _, r := range group {
			r.reply <- reply{err: err}
		}
		return
	}
	// Mark the consumer's work before anyone hears back, so WaitIdle after
	// a successful Ingest always covers these events.
	p.lastErr.Store(nil)
	if p.cfg.OnAppend != nil {
		p.cfg.OnAppend(events, out)
	}
	p.consumer.wake()
	p.announceCommit()
	if p.cfg.OnCommit != nil {
		p.cfg.OnCommit(n)
	}
	p.logDuplicates(events, out)
	for _, r := range group {
		k := len(r.events)
		r.reply <- reply{out: out[:k:k]}
		out = out[k:]
	}
}

// logDuplicates logs each conflict at warn level (a publisher bug, or two
// sources sharing ids: someone should look) and each dropped duplicate at
// debug level (retries are normal).
func (p *Pipeline) logDuplicates(events []eventagg.Event, out []eventagg.Appended) {
	debug := p.logger.Enabled(context.Background(), slog.LevelDebug)
	for i, a := range out {
		switch {
		case a.Conflict:
			p.logger.Warn("conflict: event_id taken by other content, nothing stored", "topic", events[i].Topic,
				"event_id", events[i].EventID, "original_seq", a.Seq, "source", events[i].Source)
		case a.Duplicate && debug:
			p.logger.Debug("duplicate dropped", "topic", events[i].Topic, "event_id", events[i].EventID, "seq", a.Seq)
		}
	}
}
