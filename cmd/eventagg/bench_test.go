package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

func runBench(t *testing.T, args ...string) (benchReport, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"bench", "--json"}, args...), env(nil), nil, &out, &errOut)
	var r benchReport
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
			t.Fatalf("bench output is not JSON: %v\n%s", jerr, out.String())
		}
	}
	return r, errOut.String(), err
}

func TestBenchEmbeddedCountsMatch(t *testing.T) {
	for _, args := range [][]string{
		{"--events", "3000", "--batch", "50", "--concurrency", "4", "--id", "sortable"},
		{"--events", "400", "--batch", "1", "--concurrency", "8", "--duplicate-rate", "0.5"},
		{"--events", "600", "--batch", "20", "--concurrency", "2", "--rate", "20000"},
	} {
		r, stderr, err := runBench(t, append([]string{"--embedded"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
		dups := r.Expected["duplicate_dropped"]
		if len(r.Mismatches) != 0 || r.StatsDelta["received"] != int64(r.Events) || r.StatsDelta["duplicate_dropped"] != dups ||
			r.StatsDelta["unique_processed"] != int64(r.Events)-dups || r.Failed != 0 || r.EventsPerSec <= 0 ||
			r.LatencyMS.P50 <= 0 || r.LatencyMS.P99 < r.LatencyMS.P50 || r.LatencyMS.Max < r.LatencyMS.P99 {
			t.Fatalf("%v: report %+v", args, r)
		}
		if r.DupRateSent != r.DupRateReported {
			t.Fatalf("%v: duplicates sent %.3f, reported %.3f", args, r.DupRateSent, r.DupRateReported)
		}
	}
}

// A server whose counters do not move must fail the run, naming what differs.
func TestBenchDetectsStatsMismatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stats" {
			fmt.Fprint(w, `{"received":5,"duplicate_dropped":0,"unique_processed":5,"rejected":0,"pending":0}`)
			return
		}
		acceptAll(w, r)
	}))
	defer srv.Close()
	r, _, err := runBench(t, "--url", srv.URL, "--events", "100", "--batch", "10")
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 || len(r.Mismatches) == 0 || !strings.Contains(r.Mismatches[0], "received: server counted 0, bench sent 100") {
		t.Fatalf("err %v, mismatches %v", err, r.Mismatches)
	}
}

func TestBenchFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"":                              "give --url",
		"--embedded --url http://x":     "exclude each other",
		"--embedded --duplicate-rate 1": "--duplicate-rate",
		"--embedded --id uuid":          "--id must be random or sortable",
		"--embedded --concurrency 0":    "--concurrency must be greater than 0",
	} {
		_, _, err := runBench(t, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", args, err, want)
		}
	}
}

// bench --json is for machines: every key, at every depth, is snake_case.
func TestBenchJSONKeysAreSnakeCase(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"bench", "--json", "--embedded", "--events", "200", "--batch", "20"}, env(nil), nil, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var doc any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %q at %s is not snake_case", k, path)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", doc)
}

// bench --subscribers holds streams open while it publishes, and each
// must receive exactly the new events it follows.
func TestBenchSubscribersReceiveEverything(t *testing.T) {
	for _, topics := range []string{"all", "one"} {
		r, stderr, err := runBench(t, "--embedded", "--events", "3000", "--batch", "50", "--topics", "3",
			"--subscribers", "4", "--subscriber-topics", topics, "--duplicate-rate", "0.3")
		if err != nil {
			t.Fatalf("%s: %v\n%s", topics, err, stderr)
		}
		s, unique := r.Subscribers, r.Expected["unique_processed"]
		if s == nil || s.Streams != 4 || s.Topics != topics || len(r.Mismatches) != 0 {
			t.Fatalf("%s: report %+v, subscribers %+v", topics, r, s)
		}
		// Streams of all topics get every new event; streams 0..3 of one
		// topic follow bench.0, bench.1, bench.2 and bench.0 again.
		if topics == "all" && (s.Delivered != 4*unique || s.ReceivedMin != unique || s.ReceivedMax != unique) {
			t.Fatalf("all: %+v, want %d each", s, unique)
		}
		if topics == "one" && (s.Delivered < unique || s.Delivered >= 2*unique || s.ReceivedMin == 0) {
			t.Fatalf("one: %+v, with %d new events in 3 topics", s, unique)
		}
	}
}

// A stream that misses events fails the run, naming it.
func TestBenchSubscribersDetectMissingEvents(t *testing.T) {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/subscribe":
			fmt.Fprint(w, ": subscribed\n\nid: 1\ndata: {}\n\n") // one event, then the stream ends
			return
		case "/stats":
			n := received.Load()
			fmt.Fprintf(w, `{"received":%d,"duplicate_dropped":0,"unique_processed":%d,"rejected":0,"pending":0}`, n, n)
			return
		}
		received.Add(int64(acceptAll(w, r)))
	}))
	defer srv.Close()
	r, _, err := runBench(t, "--url", srv.URL, "--events", "100", "--batch", "10", "--duplicate-rate", "0", "--subscribers", "2")
	var exit exitError
	if !errors.As(err, &exit) || len(r.Mismatches) != 2 || !strings.Contains(r.Mismatches[0], "subscriber 0 received 1 events, 100 were published for it") {
		t.Fatalf("err %v, mismatches %q", err, r.Mismatches)
	}
}

// acceptAll answers a fake server's /publish: every event accepted. It
// returns how many there were.
func acceptAll(w http.ResponseWriter, r *http.Request) int {
	var events []json.RawMessage
	json.NewDecoder(r.Body).Decode(&events)
	var res strings.Builder
	res.WriteString(`{"accepted":` + fmt.Sprint(len(events)) + `,"results":[`)
	for i := range events {
		if i > 0 {
			res.WriteString(",")
		}
		fmt.Fprintf(&res, `{"index":%d,"status":"accepted","seq":%d}`, i, i+1)
	}
	res.WriteString("]}")
	fmt.Fprint(w, res.String())
	return len(events)
}

// An event longer than the stream reader's buffer is read in pieces; a
// piece that happens to begin with "data: " is not another event.
func TestBenchStreamCountsLinesNotPieces(t *testing.T) {
	head := `data: {"pad":"`
	long := head + strings.Repeat("x", 64<<10-len(head)) + `data: x"}` + "\n\n"
	var st benchStream
	st.count(bufio.NewReaderSize(strings.NewReader(long+"id: 2\ndata: {}\n\n"), 64<<10))
	if got := st.received.Load(); got != 2 {
		t.Fatalf("counted %d events, want 2", got)
	}
}
