package httpapi

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/eventagg/eventagg"
)

// eventsResponse is the answer of GET /events. Next is "" when there was
// nothing more; Last is where a tailing reader continues from.
type eventsResponse struct {
	Events []eventagg.StoredEvent `json:"events"`
	Count  int                    `json:"count"` // events in this page
	Next   string                 `json:"next"`
	Last   string                 `json:"last"`
	// Skipped counts the events between the cursor and this page that
	// retention expired (their keys and seqs stay; see --retention).
	Skipped int64 `json:"skipped,omitempty"`
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventQuery(r)
	if err == nil {
		err = checkScope(r, q.Topic)
	}
	if err == nil {
		err = s.startAt(r, &q, r.URL.Query().Get("from"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if q.Limit == 0 {
		// Only the position: with from=end, where "now" is.
		writeJSON(w, http.StatusOK, eventsResponse{Events: []eventagg.StoredEvent{}, Last: q.After.String()})
		return
	}
	page, err := s.cfg.Store.Events(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A scoped key's listing of all topics holds only its topics; a page
	// may then be short, or empty with a next.
	page.Events = slices.DeleteFunc(page.Events, func(e eventagg.StoredEvent) bool { return !scopeOf(r).Allows(e.Topic) })
	writeJSON(w, http.StatusOK, eventsResponse{Events: page.Events, Count: len(page.Events), Next: page.Next.String(), Last: page.Last.String(), Skipped: page.Skipped})
}

// parseEventQuery reads topic, order, after and limit; each error names its
// parameter. A limit above the maximum is an error, never a silent cap; a
// limit of 0 asks only for the position (Last).
func parseEventQuery(r *http.Request) (eventagg.EventQuery, error) {
	v := r.URL.Query()
	q := eventagg.EventQuery{Topic: v.Get("topic"), Order: eventagg.ByArrival, Limit: DefaultPageLimit}
	if v.Has("topic") {
		if err := eventagg.ValidateTopic(q.Topic); err != nil {
			return q, err
		}
	}
	switch o := v.Get("order"); o {
	case "", "arrival":
	case "time":
		q.Order = eventagg.ByTime
	case "causal":
		q.Order = eventagg.ByCausal
	default:
		return q, eventagg.Errorf(eventagg.EINVALID, "order: must be arrival, time or causal, not %s", eventagg.Quote(o))
	}
	if q.Order != eventagg.ByArrival && q.Topic == "" {
		return q, eventagg.Errorf(eventagg.EINVALID, "order: %s order needs a topic", q.Order)
	}
	var err error
	if q.After, err = eventagg.ParseCursor(v.Get("after")); err != nil {
		return q, err
	}
	if err := q.After.Check(q.Order, q.Topic == ""); err != nil {
		return q, err
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n > MaxPageLimit {
			return q, eventagg.Errorf(eventagg.EINVALID, "limit: must be a whole number from 0 to %d, not %s", MaxPageLimit, eventagg.Quote(l))
		}
		q.Limit = n
	}
	return q, nil
}

// startAt applies from: "start" (or absent) leaves the query where after
// put it; "end" starts it after the newest stored event, in one probe of
// the store however many it holds.
func (s *Server) startAt(r *http.Request, q *eventagg.EventQuery, from string) error {
	switch from {
	case "", "start":
		return nil
	case "end":
	default:
		return eventagg.Errorf(eventagg.EINVALID, "from: must be start or end, not %s", eventagg.Quote(from))
	}
	if q.Order != eventagg.ByArrival {
		return eventagg.Errorf(eventagg.EINVALID, "from: end needs arrival order")
	}
	if !q.After.IsZero() {
		return eventagg.Errorf(eventagg.EINVALID, "from: end and after cannot be combined")
	}
	end, err := s.cfg.Store.End(r.Context(), q.Topic)
	q.After = end
	return err
}
