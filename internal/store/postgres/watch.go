package postgres

import (
	"context"
	"time"
)

// commitChannel is the LISTEN/NOTIFY channel every commit notifies.
const commitChannel = "eventagg_commit"

// Watch returns a channel that receives after commits by any replica
// (LISTEN/NOTIFY). It is only a wake-up: a missed notification (say, while
// the listening connection reconnects) delays work until the next poll, it
// never loses it. The channel closes when ctx ends.
func (s *Store) Watch(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		for ctx.Err() == nil {
			s.listen(ctx, ch)
			select { // the connection broke: try again shortly
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return ch
}

func (s *Store) listen(ctx context.Context, ch chan<- struct{}) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return
	}
	// The connection is left in LISTEN state: take it out of the pool.
	defer conn.Conn().Close(context.Background())
	defer conn.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+commitChannel); err != nil {
		return
	}
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return
		}
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
