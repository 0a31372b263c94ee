package httpapi

import (
	"net/http"
	"strconv"

	"github.com/eventagg/eventagg"
)

// The page sizes of GET /topics: each topic's counters are a few index
// probes, so a page costs about as much as a page of events ten times
// longer.
const (
	DefaultTopicLimit = 100
	MaxTopicLimit     = 1000
)

// topicsResponse is the answer of GET /topics. Next is the after= of the
// next page, "" when this page was the last.
type topicsResponse struct {
	Topics []topicStats `json:"topics"`
	Count  int          `json:"count"`
	Next   string       `json:"next"`
}

// handleTopics pages through the topics in name order, with the same
// conventions as GET /events: a limit with a default and a maximum (beyond
// it a 400, never a silent cap), and the position to continue from.
func (s *Server) handleTopics(w http.ResponseWriter, r *http.Request) {
	q, err := parseTopicQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// One more than asked tells whether there is a next page.
	want := q.Limit
	q.Limit++
	page, err := s.cfg.Store.Topics(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := topicsResponse{Topics: make([]topicStats, 0, min(len(page), want))}
	for _, t := range page[:min(len(page), want)] {
		if scopeOf(r).Allows(t.Topic) { // a scoped key's page may be short
			resp.Topics = append(resp.Topics, newTopicStats(t))
		}
	}
	resp.Count = len(resp.Topics)
	if len(page) > want {
		resp.Next = page[want-1].Topic
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := eventagg.ValidateTopic(name)
	if err == nil {
		err = checkScope(r, name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.cfg.Store.Topic(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newTopicStats(t))
}

// parseTopicQuery reads after, prefix and limit; each error names its
// parameter.
func parseTopicQuery(r *http.Request) (eventagg.TopicQuery, error) {
	v := r.URL.Query()
	q := eventagg.TopicQuery{After: v.Get("after"), Prefix: v.Get("prefix"), Limit: DefaultTopicLimit}
	for _, p := range []struct{ name, value string }{{"after", q.After}, {"prefix", q.Prefix}} {
		if len(p.value) > eventagg.MaxTopicLen {
			return q, eventagg.Errorf(eventagg.EINVALID, "%s: longer than %d bytes", p.name, eventagg.MaxTopicLen)
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxTopicLimit {
			return q, eventagg.Errorf(eventagg.EINVALID, "limit: must be a whole number from 1 to %d, not %s", MaxTopicLimit, eventagg.Quote(l))
		}
		q.Limit = n
	}
	return q, nil
}
