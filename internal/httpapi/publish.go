package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/eventagg/eventagg"
)

// handlePublish: decode → validate each event → ingest the valid ones (the
// pipeline answers only after they are durable) → one verdict per event, in
// input order.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.Now()
	if !s.acquireSlot(r) {
		s.writeError(w, r, eventagg.Errorf(eventagg.EUNAVAILABLE,
			"publish: more than %d requests in flight (--max-inflight) for %v (--inflight-wait), retry later",
			cap(s.inflight), max(s.cfg.InflightWait, 0)))
		return
	}
	defer func() { <-s.inflight }()
	b, err := s.decodePublish(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	verdicts := make([]verdict, len(b.items))
	events := make([]eventagg.Event, 0, len(b.items))
	rejected := 0
	scope := scopeOf(r)
	for i := range b.items {
		it := &b.items[i]
		err := it.err
		if err == nil {
			var e eventagg.Event
			if e, err = it.in.ValidateWithin(s.cfg.Payload); err == nil && !scope.Allows(e.Topic) {
				err = scope.outside(e.Topic)
			}
			if err == nil {
				events = append(events, e)
				continue
			}
		}
		if b.single {
			s.cfg.Observer.Event(it.in.Topic, eventagg.Rejected, eventagg.ErrorMessage(err))
			s.countRejected(r, 1)
			if eventagg.ErrorCode(err) != eventagg.EFORBIDDEN {
				err = unprocessable(err)
			}
			s.writeError(w, r, err)
			return
		}
		verdicts[i] = verdict{status: eventagg.Rejected, err: eventagg.ErrorMessage(err)}
		rejected++
	}

	out, err := s.cfg.Ingester.Ingest(r.Context(), events, rejected)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var n counts
	n.rejected = rejected
	k := 0
	for i := range verdicts {
		if verdicts[i].status == eventagg.Rejected {
			continue
		}
		a := out[k]
		k++
		verdicts[i] = verdict{status: a.Status(), seq: a.Seq}
		switch verdicts[i].status {
		case eventagg.Conflict:
			n.conflicts++
		case eventagg.Duplicate:
			n.dups++
		default:
			n.accepted++
		}
	}
	if rejected > 0 {
		s.logger.Info("publish: events rejected", "rejected", rejected, "of", len(verdicts), "first_error", firstError(verdicts))
	}
	perTopic := map[string]int64{}
	for i := range verdicts {
		s.cfg.Observer.Event(b.items[i].in.Topic, verdicts[i].status, verdicts[i].err)
		if verdicts[i].status != eventagg.Rejected {
			perTopic[b.items[i].in.Topic]++
		}
	}
	now := s.cfg.Now()
	for topic, n := range perTopic {
		s.active.add(now, topic, n)
	}
	elapsed := now.Sub(start)
	s.window.record(now, len(events), elapsed)
	s.cfg.Observer.Publish(elapsed)
	if b.single && n.conflicts > 0 {
		// 409, naming the original, in the shape of every error plus
		// the verdict's own fields.
		e := &events[0]
		writeJSON(w, statusOf[eventagg.ECONFLICT], map[string]any{"status": eventagg.Conflict, "seq": verdicts[0].seq,
			"error": fmt.Sprintf("event_id: %s of topic %s is stored as seq %d with other content (timestamp, source or payload); nothing was stored",
				eventagg.Quote(e.EventID), eventagg.Quote(e.Topic), verdicts[0].seq)})
		return
	}
	writePublishResponse(w, n, verdicts)
}

// counts are a response's totals by verdict.
type counts struct{ accepted, dups, conflicts, rejected int }

// acquireSlot takes one of the MaxInflight slots, waiting up to
// InflightWait for one; false means the request is to be shed.
func (s *Server) acquireSlot(r *http.Request) bool {
	select {
	case s.inflight <- struct{}{}:
		return true
	default:
	}
	if s.cfg.InflightWait <= 0 {
		return false
	}
	if s.cfg.OnInflightWait != nil {
		s.cfg.OnInflightWait()
	}
	t := time.NewTimer(s.cfg.InflightWait)
	defer t.Stop()
	select {
	case s.inflight <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-r.Context().Done():
		return false
	}
}

// unprocessable turns the refusal of a lone event that parsed (a field
// that breaks a rule, or has the wrong type) into a 422, FastAPI's answer
// and so what publishers written against such services check for; other
// codes (a payload too large is 413) stay as they are.
func unprocessable(err error) error {
	if eventagg.ErrorCode(err) == eventagg.EINVALID {
		return &eventagg.Error{Code: eventagg.EUNPROCESSABLE, Message: eventagg.ErrorMessage(err)}
	}
	return err
}

// countRejected persists the rejection of a single-event body, so /stats
// counts it like a rejected event in a batch. It goes through the pipeline
// with no events; a failure only loses the count, never an event.
func (s *Server) countRejected(r *http.Request, n int) {
	if _, err := s.cfg.Ingester.Ingest(r.Context(), nil, n); err != nil {
		s.logger.Warn("could not count a rejected event", "err", err)
	}
}

type verdict struct {
	status eventagg.Status
	seq    int64
	err    string
}

func firstError(vs []verdict) string {
	for _, v := range vs {
		if v.err != "" {
			return v.err
		}
	}
	return ""
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writePublishResponse encodes the answer by hand: it is the hot path's
// only output, and appending numbers is several times cheaper than
// reflection over a slice of structs. Error texts go through appendString.
func writePublishResponse(w http.ResponseWriter, n counts, vs []verdict) {
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	buf = append(buf, `{"received":`...)
	buf = strconv.AppendInt(buf, int64(len(vs)), 10)
	buf = append(buf, `,"accepted":`...)
	buf = strconv.AppendInt(buf, int64(n.accepted), 10)
	buf = append(buf, `,"duplicates":`...)
	buf = strconv.AppendInt(buf, int64(n.dups), 10)
	buf = append(buf, `,"conflicts":`...)
	buf = strconv.AppendInt(buf, int64(n.conflicts), 10)
	buf = append(buf, `,"rejected":`...)
	buf = strconv.AppendInt(buf, int64(n.rejected), 10)
	buf = append(buf, `,"results":[`...)
	for i, v := range vs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"index":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `,"status":"`...)
		buf = append(buf, v.status...)
		buf = append(buf, '"')
		if v.status == eventagg.Rejected {
			buf = append(buf, `,"error":`...)
			buf = appendString(buf, v.err)
		} else {
			buf = append(buf, `,"seq":`...)
			buf = strconv.AppendInt(buf, v.seq, 10)
		}
		buf = append(buf, '}')
	}
	buf = append(buf, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
	if cap(buf) <= 1<<20 { // do not keep huge buffers alive in the pool
		*bp = buf
		bufPool.Put(bp)
	}
}

func appendString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(buf, b...)
}
