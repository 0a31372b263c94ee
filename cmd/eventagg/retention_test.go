package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

type verdict struct {
	Status string `json:"status"`
	Seq    int64  `json:"seq"`
}

// TestRetentionExpiresAndKeepsKeys runs the binary with --retention 1s on
// each store: the events expire in the background (on SQLite all but the
// newest, until another arrives), /stats counts them, listings skip them
// and say so, and a retry of an expired event is still a duplicate of its
// seq.
func TestRetentionExpiresAndKeepsKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	t.Run("sqlite", func(t *testing.T) {
		testRetention(t, true, "--db", filepath.Join(t.TempDir(), "ret.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		testRetention(t, false, "--store", pgtest.FreshSchema(t))
	})
}

func testRetention(t *testing.T, newestStays bool, store ...string) {
	p := startServe(t, append(store, "--retention", "1s")...)
	defer p.kill()
	post := func(events []string) []verdict {
		t.Helper()
		resp, err := httpc.Post(p.url+"/publish", "application/json", strings.NewReader("["+strings.Join(events, ",")+"]"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out struct{ Results []verdict }
		if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("publish: %d %s", resp.StatusCode, body)
		}
		return out.Results
	}
	var batch []string
	for i := 0; i < 60; i++ {
		batch = append(batch, fmt.Sprintf(`{"topic":"%s","event_id":"e%d","timestamp":"2026-11-24T10:00:00Z","source":"s","payload":{"i":%d}}`,
			crashTopics[i%3], i, i))
	}
	first := post(batch)
	expired := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var s stats
			p.getJSON("/stats", &s)
			if s.Expired == want {
				return
			}
			if s.Expired > want || time.Now().After(deadline) {
				t.Fatalf("expired %d, want %d", s.Expired, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wantStored := int64(60)
	if newestStays {
		expired(59) // the newest stays until another event arrives
		post([]string{`{"topic":"audit","event_id":"late","timestamp":"2026-11-24T10:00:00Z","source":"s","payload":{}}`})
		wantStored++
	}
	expired(60)

	again := post(batch)
	for i, v := range again {
		if v.Status != "duplicate" || v.Seq != first[i].Seq {
			t.Fatalf("event %d sent again after it expired: %+v, first %+v", i, v, first[i])
		}
	}
	var page struct {
		Events  []stored `json:"events"`
		Skipped int64    `json:"skipped"`
	}
	p.getJSON("/events?topic=audit", &page)
	if len(page.Events) > 1 || page.Skipped != 20 {
		t.Fatalf("audit after expiry: %+v", page)
	}
	// A stream from the start says so too, in a comment before the first
	// retained event (if there is one).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url+"/subscribe?topic=audit", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "data: ") || strings.HasPrefix(sc.Text(), ": skipped") {
			break
		}
	}
	if !slices.Contains(lines, ": skipped 20 expired events (--retention)") {
		t.Fatalf("stream of audit from the start: %q", lines)
	}
	var s stats
	p.getJSON("/stats", &s)
	if s.Received != s.UniqueProcessed+s.DuplicateDrop+s.Conflicts || s.Stored != wantStored {
		t.Fatalf("stats after expiry: %+v", s)
	}
}
