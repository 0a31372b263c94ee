package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/httpapi"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// TestResponsesMatchOpenAPI sends real requests to a running server and
// checks every response, success and error, against the served
// /openapi.json with kin-openapi.
func TestResponsesMatchOpenAPI(t *testing.T) {
	a := newApp(t, httpapi.Config{MaxEvents: 3, MaxBodyBytes: 1 << 20})
	spec := a.get("/openapi.json")
	if spec.status != 200 {
		t.Fatalf("openapi.json: %d", spec.status)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec.body)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	a.publishOK(arr(ev("o", "1", ts), ev("o", "2", "2026-11-24T09:00:00Z")))
	a.idle()
	var page eventsPage
	a.get("/events?topic=o&limit=1").decode(t, &page)

	cases := []struct {
		method, path, ct, body string
		status                 int
	}{
		{"POST", "/publish", "application/json", arr(ev("o", "1", ts), ev("o", "3", ts), ev("o", "4", "bad")), 200},
		{"POST", "/publish", "application/json", ev("o", "5", ts), 200},
		{"POST", "/publish", "application/x-ndjson", ev("o", "6", ts) + "\n{bad", 200},
		{"POST", "/publish", "application/json", `{"topic":"o"}`, 422},
		{"POST", "/publish", "application/json", `{"topic":"o",`, 400},
		{"POST", "/publish", "application/json", `{"events":` + ev("o", "9", ts) + `}`, 200},
		{"POST", "/publish/batch", "application/json", arr(ev("o", "10", ts)), 200},
		{"POST", "/publish", "application/json", "[" + strings.Repeat(ev("o", "7", ts)+",", 3) + ev("o", "8", ts) + "]", 413},
		{"POST", "/publish", "text/plain", "x", 415},
		{"GET", "/events?topic=o", "", "", 200},
		{"GET", "/events?topic=o&order=time&limit=2", "", "", 200},
		{"GET", "/events?topic=o&after=" + page.Next, "", "", 200},
		{"GET", "/events", "", "", 200},
		{"GET", "/events?limit=-1", "", "", 400},
		{"GET", "/events?from=end&limit=0", "", "", 200},
		{"GET", "/stats", "", "", 200},
		{"GET", "/topics", "", "", 200},
		{"GET", "/topics?prefix=o&limit=1", "", "", 200},
		{"GET", "/topics?limit=5000", "", "", 400},
		{"GET", "/topics/o", "", "", 200},
		{"GET", "/topics/nope", "", "", 404},
		{"GET", "/health", "", "", 200},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
		{"GET", "/subscribe?after=junk", "", "", 400},
		{"GET", "/openapi.json", "", "", 200},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, a.srv.URL+c.path, strings.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s %s: not in the document: %v", c.method, c.path, err)
			continue
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
			t.Errorf("%s %s: response does not match the document: %v\n%s", c.method, c.path, err, body)
		}
	}
}
