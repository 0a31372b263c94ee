package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/httpapi"
)

const (
	keyOrders  = "orders-key-0123456789abc" // publish,read orders.*
	keyBilling = "billing-key-0123456789ab" // read billing.eu,orders.x
)

func TestParseAuthScopes(t *testing.T) {
	for file, want := range map[string]string{
		keyRead + " read ord*ers":      `line 1: topic pattern "ord*ers": * only at the end`,
		keyRead + " read orders,bad!*": `line 1: topic pattern "bad!*"`,
		keyRead + " read a b":          "line 1: want",
		keyRead + " read a,,b":         `line 1: topic pattern "": topic: required`,
	} {
		if _, err := httpapi.ParseAuth(strings.NewReader(file)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", file, err, want)
		}
	}
}

// A key limited to topics publishes only there (403 for a lone event, a
// rejected verdict naming its topics in a batch), and every read shows
// only its topics: listings and streams of all topics are filtered, and a
// request for another topic is refused, whether or not that topic exists.
func TestScopedKeysSeeOnlyTheirTopics(t *testing.T) {
	auth, err := httpapi.ParseAuth(strings.NewReader(strings.Join([]string{
		keyOrders + " publish,read orders.*", keyBilling + " read billing.eu,orders.x", keyBoth + " publish,read",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, httpapi.Config{Auth: auth})
	call := func(method, path, key, body string) response {
		t.Helper()
		req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	if r := call("POST", "/publish", keyBoth, arr(ev("billing.eu", "1", ts), ev("orders.x", "1", ts), ev("secret", "1", ts))); r.status != 200 {
		t.Fatalf("unscoped publish: %d %s", r.status, r.body)
	}
	// Publishing.
	if r := call("POST", "/publish", keyOrders, ev("billing.eu", "2", ts)); r.status != 403 || !strings.Contains(r.errorText(t), `"billing.eu" is outside this key's topics (orders.*)`) {
		t.Fatalf("lone event outside the scope: %d %s", r.status, r.body)
	}
	r := call("POST", "/publish", keyOrders, arr(ev("orders.a", "1", ts), ev("secret", "2", ts), ev("orders.b", "1", ts)))
	var res publishResult
	r.decode(t, &res)
	if r.status != 200 || res.Accepted != 2 || res.Rejected != 1 || res.Results[1].Status != "rejected" || !strings.Contains(res.Results[1].Error, "outside this key's topics") {
		t.Fatalf("batch with one event outside the scope: %d %s", r.status, r.body)
	}

	// Reads that name another topic are refused, existing or not.
	for _, path := range []string{"/events?topic=secret", "/events?topic=nothing.here", "/topics/secret", "/subscribe?topic=secret"} {
		if r := call("GET", path, keyOrders, ""); r.status != 403 {
			t.Errorf("%s with a scoped key: %d %s", path, r.status, r.body)
		}
	}
	// Listings of all topics hold only the key's.
	topicsOf := func(key, path string) string {
		t.Helper()
		r := call("GET", path, key, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		var body struct {
			Events []struct{ Topic string } `json:"events"`
			Topics json.RawMessage          `json:"topics"`
		}
		r.decode(t, &body)
		var names []string
		for _, e := range body.Events {
			names = append(names, e.Topic)
		}
		var list []struct{ Topic string }
		var plain []string
		if json.Unmarshal(body.Topics, &list) == nil {
			for _, l := range list {
				names = append(names, l.Topic)
			}
		} else if json.Unmarshal(body.Topics, &plain) == nil {
			names = append(names, plain...)
		}
		return strings.Join(names, " ")
	}
	for path, want := range map[string]string{"/events": "orders.x orders.a orders.b", "/topics": "orders.a orders.b orders.x", "/stats": "orders.a orders.b orders.x"} {
		if got := topicsOf(keyOrders, path); got != want {
			t.Errorf("%s with orders.*: %q, want %q", path, got, want)
		}
	}
	if got := topicsOf(keyBilling, "/topics"); got != "billing.eu orders.x" {
		t.Errorf("/topics with billing.eu,orders.x: %q", got)
	}
	if got := topicsOf(keyBoth, "/topics"); got != "billing.eu orders.a orders.b orders.x secret" {
		t.Errorf("/topics without a scope: %q", got)
	}

	// A stream of all topics: history from the store, then live from the
	// ring, both filtered.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/subscribe", nil)
	req.Header.Set("Authorization", "Bearer "+keyBilling)
	resp, err := a.srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", resp.StatusCode, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for len(got) < 4 && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e struct {
				Topic   string `json:"topic"`
				EventID string `json:"event_id"`
			}
			json.Unmarshal([]byte(data), &e)
			got = append(got, e.Topic+"/"+e.EventID)
			if len(got) == 2 {
				call("POST", "/publish", keyBoth, arr(ev("secret", "3", ts), ev("orders.x", "2", ts), ev("orders.a", "2", ts), ev("billing.eu", "3", ts)))
			}
		}
	}
	if strings.Join(got, " ") != "billing.eu/1 orders.x/1 orders.x/2 billing.eu/3" {
		t.Fatalf("stream of all topics with billing.eu,orders.x: %v", got)
	}
}
