package httpapi

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/eventagg/eventagg"
)

var errClosing = errors.New("the server is shutting down")

// stream is one open /subscribe. Its handler alone moves q; the metrics
// read pos and onRing.
type stream struct {
	q      eventagg.EventQuery
	topic  string       // q.Topic, for the metrics, which must not read q
	pos    atomic.Int64 // all-topics position of the last event delivered, or passed in the ring
	seq    atomic.Int64 // of a one-topic stream on the ring, the seq of the last event delivered
	onRing atomic.Bool
}

func (st *stream) live(l *live)     { st.pos.Store(l.pos); st.seq.Store(l.seq); st.onRing.Store(true) }
func (st *stream) stored(pos int64) { st.pos.Store(pos); st.onRing.Store(false) }

// setAfter moves the store cursor to where the ring left the stream, so a
// return to the store (or a reconnect) goes on from there.
func (st *stream) setAfter(l *live) {
	if l.topic == "" {
		st.q.After = eventagg.Cursor{Order: eventagg.ByArrival, Global: true, Pos: l.pos}
	} else {
		st.q.After = eventagg.Cursor{Order: eventagg.ByArrival, Pos: l.seq}
	}
}

// streams is the set of open streams, for the lag metric.
type streams struct {
	mu  sync.Mutex
	set map[*stream]struct{}
}

func (ss *streams) add(st *stream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.set == nil {
		ss.set = map[*stream]struct{}{}
	}
	ss.set[st] = struct{}{}
}

func (ss *streams) remove(st *stream) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.set, st)
}

// Appended gives the subscribers' feed a group this replica has just
// committed (pipeline.Config.OnAppend), so that it need not read the
// events back from the store.
func (s *Server) Appended(events []eventagg.Event, out []eventagg.Appended) {
	s.feed.push(events, out)
}

// FanoutStats are what /metrics reports of the subscribers.
type FanoutStats struct {
	FromRing, FromStore int64 // events delivered from the feed's ring, and read from the store
	MaxLag              int64 // events the furthest-behind stream is behind the end
}

// Fanout returns the subscribers' delivery counts and lag. A stream on the
// ring is behind by the ring's events after its position; one reading the
// store, by the positions between its last event and the newest (on
// SQLite those are events; on PostgreSQL ids, which skip a few).
func (s *Server) Fanout() FanoutStats {
	out := FanoutStats{FromRing: s.feed.fromRing.Load(), FromStore: s.feed.fromStore.Load()}
	end := s.feed.mark()
	s.streams.mu.Lock()
	defer s.streams.mu.Unlock()
	for st := range s.streams.set {
		lag := max(0, end-st.pos.Load())
		if st.onRing.Load() {
			lag = s.feed.lag(st.topic, st.pos.Load(), st.seq.Load())
		}
		out.MaxLag = max(out.MaxLag, lag)
	}
	return out
}
