package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/httpapi"
)

const ts = "2026-11-24T10:00:00Z"

func TestPublishBodyForms(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	cases := []struct {
		name, contentType, body, want string
	}{
		{"single object", "application/json", ev("f", "1", ts), "accepted:1"},
		{"array", "application/json; charset=utf-8", arr(ev("f", "2", ts), ev("f", "1", ts)), "accepted:2 duplicate:1"},
		{"envelope", "application/json", `{"events":` + arr(ev("f", "3", ts)) + `}`, "accepted:3"},
		{"no content type is JSON", "", ev("f", "4", ts), "accepted:4"},
		{"ndjson with a bad line and a blank line", "application/x-ndjson",
			ev("f", "5", ts) + "\n\n{not json\n" + ev("f", "6", ts) + "\r\n", "accepted:5 rejected accepted:6"},
		{"unknown fields ignored", "application/json",
			`{"topic":"f","event_id":"7","timestamp":"` + ts + `","source":"s","payload":{},"extra":[1,2]}`, "accepted:7"},
	}
	for _, c := range cases {
		r := a.do("POST", "/publish", c.contentType, []byte(c.body))
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", c.name, r.status, r.body)
		}
		var res publishResult
		r.decode(t, &res)
		if got := res.summary(); got != c.want {
			t.Errorf("%s: results %q, want %q", c.name, got, c.want)
		}
	}
}

func TestPublishNDJSONLineErrorNamesLine(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	r := a.do("POST", "/publish", "application/x-ndjson", []byte(ev("n", "1", ts)+"\n{oops}\n"))
	var res publishResult
	r.decode(t, &res)
	if res.Accepted != 1 || res.Rejected != 1 || !strings.HasPrefix(res.Results[1].Error, "line 2: malformed JSON") {
		t.Fatalf("got %+v", res)
	}
}

// A bad event never stops the good ones, the counts match the results, and
// the results are in input order.
func TestBatchWithBadEventsKeepsGoodOnes(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	res := a.publishOK(arr(
		ev("b", "1", ts),
		ev("b", "2", "yesterday"),
		`{"topic":"b","event_id":"3","timestamp":"`+ts+`","source":"s","payload":[1]}`,
		`17`,
		ev("b", "4", ts),
		ev("b", "1", ts),
	))
	if got, want := res.summary(), "accepted:1 rejected rejected rejected accepted:2 duplicate:1"; got != want {
		t.Fatalf("results %q, want %q", got, want)
	}
	if res.Accepted != 2 || res.Duplicates != 1 || res.Rejected != 3 {
		t.Fatalf("counts %+v", res)
	}
	for i, want := range map[int]string{
		1: `timestamp: not RFC 3339: "yesterday"`,
		2: "payload: must be a JSON object, got an array",
		3: "event: must be a JSON object, got number",
	} {
		if got := res.Results[i].Error; got != want {
			t.Errorf("result %d error %q, want %q", i, got, want)
		}
		if res.Results[i].Index != i {
			t.Errorf("result %d has index %d", i, res.Results[i].Index)
		}
	}
	var page eventsPage
	a.get("/events?topic=b").decode(t, &page)
	if len(page.Events) != 2 || page.Events[0].EventID != "1" || page.Events[1].EventID != "4" {
		t.Fatalf("stored %+v", page.Events)
	}
}

// Every field rule, each answered 422 (or 413) on a single-object body with
// a message that starts with the field's name.
func TestValidation(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	event := func(topic, id, timestamp, source, payload string) string {
		return fmt.Sprintf(`{"topic":%s,"event_id":%s,"timestamp":%s,"source":%s,"payload":%s}`, topic, id, timestamp, source, payload)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	long := strings.Repeat("x", 256)
	cases := []struct {
		name, body string
		status     int
		prefix     string
	}{
		{"topic missing", `{"event_id":"1","timestamp":"` + ts + `","source":"s","payload":{}}`, 422, "topic: required"},
		{"topic too long", event(q(long), q("1"), q(ts), q("s"), "{}"), 422, "topic: longer than 255"},
		{"topic bad start", event(q("-x"), q("1"), q(ts), q("s"), "{}"), 422, "topic: must start with a letter or digit"},
		{"topic bad char", event(q("a b"), q("1"), q(ts), q("s"), "{}"), 422, "topic: character ' ' not allowed"},
		{"topic not string", event("1", q("1"), q(ts), q("s"), "{}"), 422, "topic: must be a string, got number"},
		{"event_id empty", event(q("t"), q(""), q(ts), q("s"), "{}"), 422, "event_id: required"},
		{"event_id too long", event(q("t"), q(strings.Repeat("é", 256)), q(ts), q("s"), "{}"), 422, "event_id: longer than 255"},
		{"event_id control", event(q("t"), q("a\tb"), q(ts), q("s"), "{}"), 422, "event_id: control character"},
		{"timestamp missing", event(q("t"), q("1"), q(""), q("s"), "{}"), 422, "timestamp: required"},
		{"timestamp bad", event(q("t"), q("1"), q("yesterday"), q("s"), "{}"), 422, `timestamp: not RFC 3339: "yesterday"`},
		{"timestamp bad date", event(q("t"), q("1"), q("2026-02-30T10:00:00Z"), q("s"), "{}"), 422, "timestamp: not RFC 3339"},
		{"source empty", event(q("t"), q("1"), q(ts), q(""), "{}"), 422, "source: required"},
		{"source too long", event(q("t"), q("1"), q(ts), q(long), "{}"), 422, "source: longer than 255"},
		{"payload missing", `{"topic":"t","event_id":"1","timestamp":"` + ts + `","source":"s"}`, 422, "payload: required"},
		{"payload null", event(q("t"), q("1"), q(ts), q("s"), "null"), 422, "payload: must be a JSON object, got null"},
		{"payload string", event(q("t"), q("1"), q(ts), q("s"), `"x"`), 422, "payload: must be a JSON object, got a string"},
		{"payload too large", event(q("t"), q("1"), q(ts), q("s"), `{"x":"`+strings.Repeat("a", 256<<10)+`"}`), 413, "payload: 262152 bytes exceeds the limit of 262144"},
	}
	for _, c := range cases {
		r := a.publish(c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if msg := r.errorText(t); !strings.HasPrefix(msg, c.prefix) {
			t.Errorf("%s: error %q, want prefix %q", c.name, msg, c.prefix)
		}
	}
	// Every one of them counts as rejected, and none was stored.
	a.idle()
	if s := a.stats(); s.Rejected != int64(len(cases)) || s.Received != 0 {
		t.Fatalf("stats after rejections: %+v", s)
	}
}

func TestLimitsAtTheEdge(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	long := strings.Repeat("é", 255) // 255 characters, 510 bytes
	body := fmt.Sprintf(`{"topic":%q,"event_id":%q,"timestamp":%q,"source":%q,"payload":{}}`,
		strings.Repeat("t", 255), long, ts, long)
	if r := a.publish(body); r.status != 200 {
		t.Fatalf("255-character fields: %d %s", r.status, r.body)
	}
}

func TestTimestampsNormalisedToUTC(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	cases := map[string]string{
		"2026-11-24T10:00:00":              "2026-11-24T10:00:00Z",
		"2026-11-24T10:00:00.123456":       "2026-11-24T10:00:00.123456Z",
		"2026-11-24T12:30:00+02:30":        "2026-11-24T10:00:00Z",
		"2026-11-24T10:00:00.5-01:00":      "2026-11-24T11:00:00.5Z",
		"2026-11-24 10:00:00Z":             "2026-11-24T10:00:00Z",
		"2026-11-24t10:00:00z":             "2026-11-24T10:00:00Z",
		"2026-11-24T10:00:00+0100":         "2026-11-24T09:00:00Z",
		"2026-11-24T10:00:00.123456789Z":   "2026-11-24T10:00:00.123456Z",
		"2026-11-24T10:00:00.000001+00:00": "2026-11-24T10:00:00.000001Z",
	}
	i := 0
	for in, want := range cases {
		i++
		id := fmt.Sprint(i)
		a.publishOK(ev("ts", id, in))
		var page eventsPage
		a.get("/events?topic=ts&limit=1&after="+cursorAfterSeq(t, a, int64(i-1))).decode(t, &page)
		if len(page.Events) != 1 || page.Events[0].Timestamp != want {
			t.Errorf("%s: stored %+v, want %s", in, page.Events, want)
		}
	}
}

// cursorAfterSeq returns the arrival cursor that follows seq in topic ts,
// obtained the way a client would: from the listing itself.
func cursorAfterSeq(t *testing.T, a *app, seq int64) string {
	t.Helper()
	if seq == 0 {
		return ""
	}
	var page eventsPage
	a.get(fmt.Sprintf("/events?topic=ts&limit=%d", seq)).decode(t, &page)
	return page.Last
}

func TestPublishErrorStatuses(t *testing.T) {
	a := newApp(t, httpapi.Config{MaxBodyBytes: 2048, MaxEvents: 3})
	cases := []struct {
		name, contentType, body string
		status                  int
		prefix                  string
	}{
		{"malformed JSON", "application/json", "[\n" + ev("e", "1", ts) + ",\n {\"topic\": }]", 400, "body: malformed JSON at line 3, column 12"},
		{"trailing garbage", "application/json", arr(ev("e", "1", ts)) + " x", 400, "body: malformed JSON"},
		{"empty array", "application/json", "[]", 400, "events: empty batch"},
		{"empty envelope", "application/json", `{"events":[]}`, 400, "events: empty batch"},
		{"envelope not array", "application/json", `{"events":"x"}`, 400, "events: must be an array"},
		{"empty body", "application/json", "  ", 400, "body: empty"},
		{"scalar body", "application/json", "42", 400, "body: must be an event object"},
		{"empty ndjson", "application/x-ndjson", "\n\n", 400, "events: empty batch"},
		{"too many events", "application/json", arr(ev("e", "1", ts), ev("e", "2", ts), ev("e", "3", ts), ev("e", "4", ts)), 413, "events: more than the limit of 3"},
		{"too many ndjson", "application/x-ndjson", strings.Repeat(ev("e", "1", ts)+"\n", 4), 413, "events: more than the limit of 3"},
		{"body too large", "application/json", `[` + strings.Repeat(" ", 3000) + `]`, 413, "body: larger than the limit of 2048 bytes"},
		{"text/plain", "text/plain", ev("e", "1", ts), 415, `Content-Type: "text/plain" not supported`},
		{"form", "application/x-www-form-urlencoded", ev("e", "1", ts), 415, "Content-Type"},
		{"latin1", "application/json; charset=latin1", ev("e", "1", ts), 415, `Content-Type: charset "latin1"`},
	}
	for _, c := range cases {
		r := a.do("POST", "/publish", c.contentType, []byte(c.body))
		if r.status != c.status {
			t.Errorf("%s: status %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		if msg := r.errorText(t); !strings.HasPrefix(msg, c.prefix) {
			t.Errorf("%s: error %q, want prefix %q", c.name, msg, c.prefix)
		}
	}
	// Nothing of any refused request was stored.
	var page eventsPage
	a.get("/events").decode(t, &page)
	if len(page.Events) != 0 {
		t.Fatalf("refused requests stored %d events", len(page.Events))
	}
}

func TestWrongMethodAndUnknownRoute(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	if r := a.get("/publish"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /publish: %d", r.status)
	}
	if r := a.get("/nope"); r.status != http.StatusNotFound || !strings.Contains(r.errorText(t), "/nope") {
		t.Errorf("GET /nope: %d %s", r.status, r.body)
	}
}
