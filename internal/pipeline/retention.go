package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/eventagg/eventagg"
)

// Retention expires events committed longer ago than Keep, in the
// background. Each Expire is one small transaction (ExpireBatch events):
// publishing waits for at most one of them, never for a whole purge.
type Retention struct {
	Store  eventagg.Expirer
	Keep   time.Duration
	Logger *slog.Logger
	Now    func() time.Time // time.Now unless a test sets it
}

const (
	// ExpireBatch is how many events one expiry transaction removes.
	ExpireBatch = 1000
	// expirePause separates full batches, so the writer gets the lock
	// between them however long the backlog.
	expirePause = 5 * time.Millisecond
)

// Run expires until ctx ends: batch after batch while there is a backlog,
// then once per checkEvery (a hundredth of Keep, between 1 s and 1 min).
func (r *Retention) Run(ctx context.Context) {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	checkEvery := min(max(r.Keep/100, time.Second), time.Minute)
	for {
		began := time.Now()
		n, err := r.Store.Expire(ctx, now().Add(-r.Keep), ExpireBatch)
		if n > 0 {
			r.Logger.Debug("retention: expired", "events", n, "took", time.Since(began))
		}
		if err != nil && ctx.Err() == nil {
			r.Logger.Warn("retention: expire failed; trying again later", "err", err)
		}
		// A store may expire less than a batch while more waits (the
		// PostgreSQL store takes a share of each bucket): only a pass that
		// found nothing ends the backlog.
		wait := checkEvery
		if n > 0 {
			wait = expirePause
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
