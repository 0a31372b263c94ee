package pipeline

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// trickleStore is a store on which the consumer finds a few events (fewer
// than a batch) for its first passes, then a full batch, then nothing: what a
// consumer sees while publishers keep committing small groups, then a
// backlog. It records when each pass started.
type trickleStore struct {
	eventagg.Store // nil: only Process is called
	partial        int
	full           int
	passes         chan time.Time
}

func (s *trickleStore) Process(_ context.Context, limit int) (int, error) {
	s.passes <- time.Now()
	switch {
	case s.partial > 0:
		s.partial--
		return 1, nil
	case s.full > 0:
		s.full--
		return limit, nil
	}
	return 0, nil
}

// A consumer under a steady trickle must not run a transaction per writer
// group: after a pass that caught up (a partial batch) it waits pace before
// the next, so each pass applies many groups. With several replicas every
// consumer is woken by every replica's commits, so without this the passes
// (each a transaction with an fsync) multiply with the replicas.
func TestConsumerPacesPartialPasses(t *testing.T) {
	store := &trickleStore{partial: 3, full: 1, passes: make(chan time.Time, 16)}
	c := newConsumer(store, 10, time.Minute, slog.New(slog.DiscardHandler))
	go c.run()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.stop(ctx); err != nil {
		t.Fatal(err)
	}
	close(store.passes)
	var starts []time.Time
	for at := range store.passes {
		starts = append(starts, at)
	}
	// 3 partial passes, 1 full, the one that found nothing, and the one of
	// stop's drain.
	if len(starts) < 5 {
		t.Fatalf("%d passes, want at least 5", len(starts))
	}
	for i := 1; i <= 3; i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < pace {
			t.Errorf("pass %d started %v after a partial pass, want at least %v", i+1, gap, pace)
		}
	}
}
