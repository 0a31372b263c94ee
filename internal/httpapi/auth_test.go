package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/httpapi"
)

const (
	keyPublish = "publisher-key-0123456789"
	keyRead    = "reader-key-0123456789abc"
	keyAdmin   = "admin-key-0123456789abcd"
	keyBoth    = "both-key-0123456789abcde"
)

func TestParseAuthErrorsNameTheLine(t *testing.T) {
	for file, want := range map[string]string{
		"short publish":                     "line 1: key shorter than 16",
		"# c\n\n" + keyRead + " read,write": `line 3: unknown right "write"`,
		keyRead:                             "line 1: want",
		"# nothing":                         "no keys",
	} {
		if _, err := httpapi.ParseAuth(strings.NewReader(file)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", file, err, want)
		}
	}
}

// Each right on each endpoint: 401 without a known key, 403 with a key
// that lacks the right, through otherwise; probes and static pages open.
func TestRightsOnEveryEndpoint(t *testing.T) {
	auth, err := httpapi.ParseAuth(strings.NewReader(strings.Join([]string{
		"# keys for the test",
		keyPublish + " publish", keyRead + " read", keyAdmin + " admin", keyBoth + " publish,read",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, httpapi.Config{Auth: auth, Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("# metrics\n")) })})
	type call struct{ method, path, body string }
	publish := call{"POST", "/publish", ev("auth", "1", ts)}
	endpoints := map[call]string{ // the right each needs
		publish:                              "publish",
		{"GET", "/events", ""}:               "read",
		{"GET", "/stats", ""}:                "read",
		{"GET", "/topics", ""}:               "read",
		{"GET", "/topics/a/b", ""}:           "read",
		{"GET", "/subscribe?after=junk", ""}: "read", // 400 once through: no stream to hold open
		{"GET", "/metrics", ""}:              "admin",
		{"GET", "/healthz", ""}:              "",
		{"GET", "/readyz", ""}:               "",
		{"GET", "/openapi.json", ""}:         "",
		{"GET", "/", ""}:                     "",
	}
	keys := map[string][]string{"": nil, "wrong-key-0123456789": nil, keyPublish: {"publish"}, keyRead: {"read"},
		keyAdmin: {"publish", "read", "admin"}, keyBoth: {"publish", "read"}}
	for c, right := range endpoints {
		for key, rights := range keys {
			req, _ := http.NewRequest(c.method, a.srv.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := a.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.StatusCode
			allowed := right == ""
			for _, r := range rights {
				allowed = allowed || r == right
			}
			switch {
			case allowed && (got == 401 || got == 403):
				t.Errorf("%s %s with key %q: %d, want through", c.method, c.path, key, got)
			case !allowed && rights == nil && got != 401:
				t.Errorf("%s %s with key %q: %d, want 401", c.method, c.path, key, got)
			case !allowed && rights != nil && got != 403:
				t.Errorf("%s %s with key %q: %d, want 403", c.method, c.path, key, got)
			}
			if got == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		}
	}
	// The other ways to pass a key.
	req, _ := http.NewRequest("GET", a.srv.URL+"/stats", nil)
	req.Header.Set("X-API-Key", keyRead)
	if resp, err := a.srv.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("X-API-Key: %v %v", resp.StatusCode, err)
	}
	if r := a.get("/stats?key=" + keyRead); r.status != 200 {
		t.Fatalf("?key= on GET: %d", r.status)
	}
	if r := a.do("POST", "/publish?key="+keyPublish, "application/json", []byte(ev("auth", "2", ts))); r.status != 401 {
		t.Fatalf("?key= on POST must not count (keys in URLs end up in logs): %d", r.status)
	}
}
