package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func publishLines(t *testing.T, url string, events ...string) {
	t.Helper()
	resp, err := httpc.Post(url+"/publish", "application/x-ndjson", strings.NewReader(strings.Join(events, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %s", resp.Status)
	}
}

// ids returns the event ids printed so far, one NDJSON line each.
func ids(t *testing.T, out string) []string {
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var e struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not NDJSON: %q", l)
		}
		got = append(got, e.EventID)
	}
	return got
}

// `eventagg subscribe` follows a topic through a SIGKILL and restart of the
// server, resuming from its last cursor: no gap, no repeat.
func TestSubscribeCommandSurvivesServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	db := filepath.Join(t.TempDir(), "sub.db")
	addr := freePort(t)
	p := startServe(t, "--db", db, "--addr", addr)
	publishLines(t, p.url, line("s", "1"), line("s", "2"), line("other", "x"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"subscribe", "--url", p.url, "--topic", "s", "--from-start"}, env(nil), nil, &out, &errOut)
	}()
	waitFor(t, func() bool { return len(ids(t, out.String())) == 2 })

	p.kill()
	waitFor(t, func() bool { return strings.Contains(errOut.String(), "reconnecting") })
	p = startServe(t, "--db", db, "--addr", addr)
	publishLines(t, p.url, line("s", "3"), line("s", "2"), line("s", "4"))
	waitFor(t, func() bool { return len(ids(t, out.String())) >= 4 })

	// A second subscriber without --from-start sees only what comes next.
	var tail syncBuffer
	go run(ctx, []string{"subscribe", "--url", p.url, "--topic", "s"}, env(nil), nil, &tail, &errOut)
	waitFor(t, func() bool { return p.subscribers() == 2 })
	publishLines(t, p.url, line("s", "5"))
	waitFor(t, func() bool { return len(ids(t, out.String())) >= 5 && len(ids(t, tail.String())) >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(t, out.String())); got != "[1 2 3 4 5]" {
		t.Fatalf("followed %s, want each event once in order", got)
	}
	if got := fmt.Sprint(ids(t, tail.String())); got != "[5]" {
		t.Fatalf("tail printed %s, want only the new event", got)
	}
}

// subscribers is the number of open /subscribe streams the server reports.
func (p *proc) subscribers() int {
	var s struct{ Subscribers int }
	p.getJSON("/stats", &s)
	return s.Subscribers
}
