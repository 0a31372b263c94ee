package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/httpapi"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/sqlite"
)

// inProcess runs the real service on a loopback port for the command tests.
func inProcess(t *testing.T) (string, eventagg.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pub.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.Start(st, pipeline.Config{}, nil)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ingester: p, Store: st, Queue: p}).Routes())
	t.Cleanup(func() { srv.Close(); p.Close(context.Background()); st.Close() })
	return srv.URL, st
}

func runPublish(t *testing.T, stdin io.Reader, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"publish"}, args...), env(nil), stdin, &out, &errOut)
	var exit exitError
	switch {
	case err == nil:
		return out.String() + errOut.String(), 0
	case errors.As(err, &exit):
		return out.String() + errOut.String(), exit.code
	}
	t.Fatalf("publish: %v\n%s%s", err, out.String(), errOut.String())
	return "", -1
}

func line(topic, id string) string {
	return fmt.Sprintf(`{"topic":%q,"event_id":%q,"timestamp":"2026-11-24T10:00:00Z","source":"file","payload":{}}`, topic, id)
}

// A conflict (an event_id stored with other content) fails the publish
// like a rejection: exit 1, the original's seq named, nothing stored.
func TestPublishReportsConflicts(t *testing.T) {
	url, st := inProcess(t)
	other := `{"topic":"f","event_id":"1","timestamp":"2026-11-24T10:00:00Z","source":"file","payload":{"changed":1}}`
	respelled := `{"payload": { }, "source":"file","timestamp":"2026-11-24T10:00:00.000Z","event_id":"1","topic":"f"}`
	out, code := runPublish(t, strings.NewReader(line("f", "1")+"\n"+line("f", "2")+"\n"+other+"\n"+respelled+"\n"), "--url", url)
	if code != exitSomeRejected || !strings.Contains(out, "read 4 events: 2 accepted, 1 duplicates, 1 conflicts, 0 rejected") ||
		!strings.Contains(out, "event 2: conflict: its (topic, event_id) is stored as seq 1 with other content") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if s, _ := st.Stats(context.Background()); s.Stored != 2 || s.Conflicts != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPublishNDJSONFileWithRejects(t *testing.T) {
	url, st := inProcess(t)
	file := filepath.Join(t.TempDir(), "events.ndjson")
	content := line("f", "1") + "\n" + line("f", "2") + "\n" + `{"topic":"f","event_id":"3","timestamp":"never","source":"s","payload":{}}` + "\n" + line("f", "1") + "\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runPublish(t, nil, "--url", url, "--batch", "2", file)
	if code != exitSomeRejected || !strings.Contains(out, "read 4 events: 2 accepted, 1 duplicates, 0 conflicts, 1 rejected; 2 requests") ||
		!strings.Contains(out, `event 2: timestamp: not RFC 3339: "never"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if s, _ := st.Stats(context.Background()); s.Stored != 2 {
		t.Fatalf("stored %d", s.Stored)
	}
}

func TestPublishFillsMissingFieldsFromStdinArray(t *testing.T) {
	url, st := inProcess(t)
	in := `[{"timestamp":"2026-11-24T10:00:00Z","payload":{"a":1}}, {"topic":"own","event_id":"keep","timestamp":"2026-11-24T10:00:00Z","payload":{}}]`
	out, code := runPublish(t, strings.NewReader(in), "--url", url, "--topic", "filled", "--source", "cli", "--id-if-missing")
	if code != exitAllStored || !strings.Contains(out, "2 accepted") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	page, err := st.Events(context.Background(), eventagg.EventQuery{Order: eventagg.ByArrival, Limit: 10})
	if err != nil || len(page.Events) != 2 {
		t.Fatal(page, err)
	}
	a, b := page.Events[0], page.Events[1]
	if a.Topic != "filled" || a.Source != "cli" || len(a.EventID) != 26 || b.Topic != "own" || b.EventID != "keep" {
		t.Fatalf("stored %+v / %+v", a, b)
	}
}

// A large stream goes through in batches as it is read: the writer side
// produces events while the command is already publishing them.
func TestPublishStreamsLargeInput(t *testing.T) {
	url, st := inProcess(t)
	pr, pw := io.Pipe()
	const n = 20000
	go func() {
		enc := json.NewEncoder(pw)
		for i := 0; i < n; i++ {
			enc.Encode(map[string]any{"topic": "big", "event_id": fmt.Sprint(i), "timestamp": "2026-11-24T10:00:00Z", "source": "s", "payload": map[string]int{"i": i}})
		}
		pw.Close()
	}()
	out, code := runPublish(t, pr, "--url", url, "--batch", "1000")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("read %d events: %d accepted", n, n)) {
		t.Fatalf("exit %d: %s", code, out)
	}
	if s, _ := st.Stats(context.Background()); s.Stored != n {
		t.Fatalf("stored %d", s.Stored)
	}
}

func TestPublishUndeliverable(t *testing.T) {
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	out, code := runPublish(t, strings.NewReader(line("x", "1")), "--url", url, "--give-up", "300ms")
	if code != exitUndelivered || !strings.Contains(out, "giving up") {
		t.Fatalf("exit %d: %s", code, out)
	}
	out, code = runPublish(t, strings.NewReader(`[`+line("x", "1")+`, {"topic": ]`), "--url", url, "--give-up", "1ms")
	if code != exitUndelivered || !strings.Contains(out, "malformed JSON") {
		t.Fatalf("malformed input: exit %d: %s", code, out)
	}
}
