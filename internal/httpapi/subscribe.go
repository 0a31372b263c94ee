package httpapi

import (
	"bytes"
	"encoding/json"
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
)

// handleSubscribe streams a topic (or all topics) as Server-Sent Events,
// from the store, at the subscriber's own pace. Each event's SSE id is the
// cursor after it, so a reconnect with Last-Event-ID (or ?after=) resumes
// exactly there, across restarts too, since cursors are store positions.
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
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		after = id // the browser's reconnect says where it really is
	}
	var err error
	if q.After, err = eventagg.ParseCursor(after); err == nil {
		err = q.After.Check(q.Order, q.Topic == "")
	}
	// tail starts near the end; a browser reconnecting with Last-Event-ID
	// resends the same URL, and then the resume point wins.
	if err == nil && v.Has("tail") && r.Header.Get("Last-Event-ID") == "" {
		err = s.tailCursor(r, &q, v.Get("tail"))
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

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flush := func() bool {
		rc.SetWriteDeadline(time.Now().Add(subscribeWriteTimeout))
		return rc.Flush() == nil
	}
	w.Write([]byte(": subscribed\n\n"))
	if !flush() {
		return
	}
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	poll := time.NewTimer(s.cfg.SubscribePoll)
	defer poll.Stop()
	var buf bytes.Buffer
	for {
		changed := s.committed()
		page, err := s.cfg.Store.Events(r.Context(), q)
		if err != nil {
			if r.Context().Err() == nil {
				s.logger.Warn("subscribe: read failed; the client will reconnect", "err", err)
			}
			return
		}
		if len(page.Events) > 0 || page.Skipped > 0 {
			buf.Reset()
			if page.Skipped > 0 {
				// Retention expired events between the cursor and this
				// page: a comment (every SSE reader ignores it) says so.
				fmt.Fprintf(&buf, ": skipped %d expired events (--retention)\n\n", page.Skipped)
			}
			for _, e := range page.Events {
				data, err := json.Marshal(e)
				if err != nil {
					return
				}
				buf.WriteString("id: ")
				buf.WriteString(q.CursorAfter(e).String())
				buf.WriteString("\ndata: ")
				buf.Write(data)
				buf.WriteString("\n\n")
			}
			rc.SetWriteDeadline(time.Now().Add(subscribeWriteTimeout))
			if _, err := w.Write(buf.Bytes()); err != nil || !flush() {
				return
			}
			q.After = page.Last
			if !page.Next.IsZero() {
				continue
			}
		}
		poll.Reset(s.cfg.SubscribePoll)
		select {
		case <-changed:
		case <-poll.C:
		case <-heartbeat.C:
			rc.SetWriteDeadline(time.Now().Add(subscribeWriteTimeout))
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || !flush() {
				return
			}
		case <-s.closing:
			return
		case <-r.Context().Done():
			return
		}
	}
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
