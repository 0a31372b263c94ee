package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/pipeline"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// lockedBuffer is a log sink the writer goroutine and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// A conflict comes back as such, and an operator hears of it: one warn
// line with topic, event_id and the original's seq; duplicates, which
// retries make normal, stay quiet at that level.
func TestConflictIsAnsweredAndLogged(t *testing.T) {
	var logs lockedBuffer
	p := pipeline.Start(newStore(t), pipeline.Config{}, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	defer closePipe(t, p)
	ctx := context.Background()
	x := storetest.Ev("orders", "x", 0)
	if _, err := p.Ingest(ctx, []eventagg.Event{storetest.Ev("orders", "w", 0), x}, 0); err != nil {
		t.Fatal(err)
	}
	other := x
	other.Payload = []byte(`{"id":"x","changed":true}`)
	out, err := p.Ingest(ctx, []eventagg.Event{x, other}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Status() != eventagg.Duplicate || out[1].Status() != eventagg.Conflict || out[1].Seq != 2 {
		t.Fatalf("verdicts %+v, want a duplicate and a conflict of seq 2", out)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.b.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("warn log: %q, want one line", logs.b.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["level"] != "WARN" || rec["topic"] != "orders" || rec["event_id"] != "x" || rec["original_seq"] != float64(2) {
		t.Fatalf("conflict log line %v", rec)
	}
}
