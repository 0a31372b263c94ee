package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
)

// countingIngester accepts everything and numbers events per topic.
type countingIngester struct{ seq map[string]int64 }

func (c *countingIngester) Ingest(_ context.Context, events []eventagg.Event, _ int) ([]eventagg.Appended, error) {
	out := make([]eventagg.Appended, len(events))
	for i, e := range events {
		c.seq[e.Topic]++
		out[i] = eventagg.Appended{Seq: c.seq[e.Topic]}
	}
	return out, nil
}

// FuzzPublish sends arbitrary bodies in every accepted content type. The
// handler must never panic, must answer only with the documented statuses,
// always in JSON, and a 200 must carry one result per decoded event whose
// counts add up.
func FuzzPublish(f *testing.F) {
	ev := `{"topic":"t","event_id":"1","timestamp":"2026-11-24T10:00:00","source":"s","payload":{}}`
	for _, seed := range []struct{ ct, body string }{
		{"application/json", ev},
		{"application/json", "[" + ev + "," + ev + `,{"topic":5},17,null]`},
		{"application/json", `{"events":[` + ev + `]}`},
		{"application/json", `{"events":{}}`},
		{"application/json", `[`},
		{"application/json", `[] x`},
		{"application/json", `{"topic":"t","topic":"u"}`},
		{"application/json", strings.Repeat("[", 5000)},
		{"application/x-ndjson", ev + "\n\n{bad\n" + ev},
		{"application/x-ndjson", "\r\n\r\n"},
		{"text/plain", ev},
		{"application/json; charset=latin1", ev},
		{"", `"just a string"`},
	} {
		f.Add(seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, ct, body string) {
		s := New(Config{Ingester: &countingIngester{seq: map[string]int64{}}, Queue: nil, MaxBodyBytes: 1 << 20, MaxEvents: 50})
		req := httptest.NewRequest("POST", "/publish", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		s.handlePublish(rec, req)
		switch rec.Code {
		case 200, 400, 413, 415, 422:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if rec.Header().Get("Content-Type") != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body.String())
		}
		if rec.Code != http.StatusOK {
			var e struct{ Error string }
			if json.Unmarshal(rec.Body.Bytes(), &e); e.Error == "" {
				t.Fatalf("error answer without message: %s", rec.Body.String())
			}
			return
		}
		var res struct {
			Accepted, Duplicates, Rejected int
			Results                        []struct {
				Index  int
				Status string
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Results) == 0 || res.Accepted+res.Duplicates+res.Rejected != len(res.Results) {
			t.Fatalf("counts do not add up: %s", rec.Body.String())
		}
		for i, r := range res.Results {
			if r.Index != i {
				t.Fatalf("result %d has index %d", i, r.Index)
			}
		}
	})
}
