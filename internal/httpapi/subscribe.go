package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/eventagg/eventagg"
)

// Notifier tells subscribers that something was committed.
type Notifier interface {
	// Committed returns a channel closed at the next commit.
	Committed() <-chan struct{}
}

// Subscription defaults.
const (
	DefaultMaxSubscribers = 256
	DefaultHeartbeat      = 15 * time.Second
	// subscribeWriteTimeout drops a subscriber whose connection takes no
	// data for this long; a slow one only ever slows itself.
	subscribeWriteTimeout = 30 * time.Second
	subscribePage         = 1000
	// subscribeWriteBytes is about the most one write of a live stream
	// carries; a stream further behind takes several.
	subscribeWriteBytes = 1 << 20
	// subscribeWriteEvery spaces a live stream's writes under a steady
	// flow of commits, so that one write carries all that came in the
	// meantime: a write costs the server about as much for one commit's
	// events as for several (a hundred one-topic streams writing each of
	// a hundred commits a second took a fifth of its CPU). The first
	// event after a quiet spell goes out at once.
	subscribeWriteEvery = 25 * time.Millisecond
)

// handleSubscribe streams a topic (or all topics) as Server-Sent Events.
// Each event's SSE id is the cursor after it, so a reconnect with
// Last-Event-ID (or ?after=) resumes exactly there, across restarts too,
// since cursors are store positions.
//
// A stream behind the end reads the store at its own pace (catch-up reads
// share a budget, so a crowd replaying history cannot starve publishing);
// once it has caught up it follows the feed, which takes each committed
// event once for every live stream (from the writer, or one read of the
// store) and encodes it once, and gets each commit's events in one write
// (several commits' under a steady flow: see subscribeWriteEvery). If it
// falls more than the feed's ring behind, it goes back to the store.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := eventagg.EventQuery{Topic: v.Get("topic"), Order: eventagg.ByArrival, Limit: subscribePage}
	if v.Has("topic") {
		if err := eventagg.ValidateTopic(q.Topic); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	after := v.Get("after")
	resumed := r.Header.Get("Last-Event-ID") != ""
	if resumed {
		after = r.Header.Get("Last-Event-ID") // the browser's reconnect says where it really is
	}
	var err error
	if q.After, err = eventagg.ParseCursor(after); err == nil {
		err = q.After.Check(q.Order, q.Topic == "")
	}
	if err == nil {
		err = checkScope(r, q.Topic)
	}
	// tail and from=end start near or at the end; a browser reconnecting
	// with Last-Event-ID resends the same URL, and then the resume point
	// wins.
	if err == nil && v.Has("tail") && !resumed {
		err = s.tailCursor(r, &q, v.Get("tail"))
	}
	if err == nil && !resumed {
		err = s.startAt(r, &q, v.Get("from"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	select {
	case s.subscribers <- struct{}{}:
		defer func() { <-s.subscribers }()
	default:
		s.writeError(w, r, eventagg.Errorf(eventagg.EUNAVAILABLE, "subscribers: limit of %d reached (--max-subscribers)", cap(s.subscribers)))
		return
	}
	gen, err := s.feed.join(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.feed.leave()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		// Unchunked, as the SSE specification suggests: a stream ends only
		// when its connection does, and each send is then one write to the
		// socket rather than a chunk header, the data and a CRLF.
		h.Set("Transfer-Encoding", "identity")
	}
	w.WriteHeader(http.StatusOK)
	var b batch
	buf := &b.buf
	buf.WriteString(": subscribed\n\n")
	if v.Get("from") == "end" && !resumed && !q.After.IsZero() {
		// An id without data moves a browser's Last-Event-ID, so a
		// reconnect before the first event resumes here, not at a later end.
		buf.WriteString("id: " + q.After.String() + "\n\n")
	}
	send := func() bool {
		rc.SetWriteDeadline(time.Now().Add(subscribeWriteTimeout))
		return b.writeTo(w) == nil && rc.Flush() == nil
	}
	if !send() {
		return
	}
	st := &stream{q: q, topic: q.Topic}
	s.streams.add(st)
	defer s.streams.remove(st)
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	poll := time.NewTimer(s.cfg.SubscribePoll)
	defer poll.Stop()
	spacing := time.NewTimer(0)
	defer spacing.Stop()
	var l *live // nil while reading the store
	for {
		var wake <-chan struct{}
		if l == nil {
			mark := s.feed.mark()
			wake = s.committed()
			more, err := s.readStore(r, st, buf)
			if err != nil {
				if r.Context().Err() == nil {
					s.logger.Warn("subscribe: read failed; the client will reconnect", "err", err)
				}
				return
			}
			if buf.Len() > 0 && !send() {
				return
			}
			if more {
				continue
			}
			// Caught up: from here the ring has every event the read
			// did not see (see mark).
			l = &live{gen: gen, topic: st.q.Topic, scope: scopeOf(r), pos: mark, seq: st.q.After.Pos}
			if st.q.Topic == "" {
				l.pos = st.q.After.Pos
			}
			st.live(l)
		} else {
			wake = s.feed.waiter(l.topic)
			n, ok := s.feed.collect(l, &b, subscribeWriteBytes)
			s.feed.fromRing.Add(int64(n))
			st.setAfter(l) // where the store goes on, if it must
			if !ok {
				l = nil
				if b.size > 0 && !send() { // the runs go first: the store's page is copied after buf
					return
				}
				continue // what the ring gave goes out before the store's page
			}
			st.live(l)
			if n > 0 {
				if !send() || !s.rest(r, spacing, subscribeWriteEvery) {
					return
				}
				continue // perhaps more than one write's worth
			}
		}
		poll.Reset(s.cfg.SubscribePoll)
		select {
		case <-wake:
		case <-poll.C:
		case <-heartbeat.C:
			buf.WriteString(": heartbeat\n\n")
			if !send() {
				return
			}
		case <-s.closing:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// rest waits d on t, and reports false if the stream must end meanwhile.
func (s *Server) rest(r *http.Request, t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-s.closing:
	case <-r.Context().Done():
	}
	return false
}

// readStore reads the stream's next page from the store into buf, within
// the catch-up budget, and moves the stream on. more reports a full page:
// the stream is still behind.
func (s *Server) readStore(r *http.Request, st *stream, buf *bytes.Buffer) (more bool, err error) {
	select {
	case s.catchUp <- struct{}{}:
		defer func() { <-s.catchUp }()
	case <-r.Context().Done():
		return false, r.Context().Err()
	case <-s.closing:
		return false, errClosing
	}
	page, err := s.cfg.Store.Events(r.Context(), st.q)
	if err != nil {
		return false, err
	}
	if page.Skipped > 0 {
		// Retention expired events between the cursor and this page:
		// a comment (every SSE reader ignores it) says so.
		fmt.Fprintf(buf, ": skipped %d expired events (--retention)\n\n", page.Skipped)
	}
	var data []byte
	scope, sent := scopeOf(r), 0
	for i := range page.Events {
		e := &page.Events[i]
		if !scope.Allows(e.Topic) {
			continue // a scoped key's stream of all topics holds only its topics
		}
		data = e.AppendJSON(data[:0])
		writeFrame(buf, st.q.CursorAfter(*e).String(), data)
		st.stored(e.Position)
		sent++
	}
	s.feed.fromStore.Add(int64(sent))
	st.q.After = page.Last
	return !page.Next.IsZero(), nil
}

// tailCursor starts a topic's stream n events before its end, for readers
// (the dashboard) that want recent events rather than the whole history.
func (s *Server) tailCursor(r *http.Request, q *eventagg.EventQuery, tail string) error {
	n, err := strconv.Atoi(tail)
	if err != nil || n < 0 || n > MaxPageLimit {
		return eventagg.Errorf(eventagg.EINVALID, "tail: must be a whole number from 0 to %d, not %s", MaxPageLimit, eventagg.Quote(tail))
	}
	if q.Topic == "" || !q.After.IsZero() {
		return eventagg.Errorf(eventagg.EINVALID, "tail: needs a topic and no after / Last-Event-ID")
	}
	t, err := s.cfg.Store.Topic(r.Context(), q.Topic)
	if eventagg.ErrorCode(err) == eventagg.ENOTFOUND {
		return nil // no events yet: the stream starts at the beginning
	} else if err != nil {
		return err
	}
	if t.LastSeq > int64(n) {
		q.After = eventagg.Cursor{Order: eventagg.ByArrival, Pos: t.LastSeq - int64(n)}
	}
	return nil
}

// committed is the Notifier's channel, or one that never closes.
func (s *Server) committed() <-chan struct{} {
	if s.cfg.Notifier == nil {
		return nil
	}
	return s.cfg.Notifier.Committed()
}

// CloseStreams ends every subscription, so a graceful shutdown does not
// wait for streams that never end on their own. Subscribers reconnect to
// another replica, or to this one when it is back, and resume.
func (s *Server) CloseStreams() {
	s.closeOnce.Do(func() { close(s.closing) })
}
