package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// vmHWM reads the peak resident memory of a process, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestOverloadSheds floods a real server (built without the race detector,
// so its memory is its own) with far more than it can take: it answers 503
// with Retry-After instead of growing, its peak memory stays under the
// bound its limits give, /readyz reports the saturation, every acknowledged
// event is stored, and it serves normally once the flood stops.
func TestOverloadSheds(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a real process")
	}
	plain := filepath.Join(t.TempDir(), "eventagg")
	if out, err := exec.Command("go", "build", "-o", plain, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	saved := binary
	binary = plain
	p := startServe(t, "--db", filepath.Join(t.TempDir(), "flood.db"),
		"--max-body-bytes", "1048576", "--max-inflight", "8", "--max-queued", "3000", "--max-events", "1000")
	binary = saved

	const publishers = 64
	// The bodies are built by hand, not with fmt: under the race detector
	// formatting 64 floods of 1,000 events left the test process, not the
	// server, the bottleneck on a loaded machine.
	quoted := strconv.Quote(strings.Repeat("x", 800))
	body := func(w, b int) []byte {
		buf := make([]byte, 0, 1000*(len(quoted)+110))
		buf = append(buf, '[')
		for i := 0; i < 1000; i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"topic":"flood","event_id":"`...)
			buf = append(buf, floodID(w, b, i)...)
			buf = append(buf, `","timestamp":"2026-11-24T10:00:00Z","source":"s","payload":{"p":`...)
			buf = append(buf, quoted...)
			buf = append(buf, "}}"...)
		}
		return append(buf, ']')
	}
	var accepted sync.Map // topic/id acknowledged
	var shed, ok, notReady atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Stop the flood whatever happens: publishers left running after a
	// failure would starve every test after this one.
	t.Cleanup(func() { cancel(); wg.Wait() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%d batches accepted, %d shed, /readyz 503 seen %d times", ok.Load(), shed.Load(), notReady.Load())
		}
	})
	for w := 0; w < publishers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; ctx.Err() == nil; b++ {
				req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/publish", bytes.NewReader(body(w, b)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := httpc.Do(req)
				if err != nil {
					continue
				}
				respBody, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
					for i := 0; i < 1000; i++ {
						accepted.Store(floodID(w, b, i), true)
					}
				case 503:
					if resp.Header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After: %s", respBody)
					}
					shed.Add(1)
				default:
					t.Errorf("status %d: %s", resp.StatusCode, respBody)
				}
			}
		}(w)
	}
	// Flood until the server has shed load and accepted some, watching
	// /readyz meanwhile.
	waitFor(t, func() bool {
		if resp, err := httpc.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 503 {
				notReady.Add(1)
			}
		}
		return shed.Load() >= 50 && ok.Load() >= 20 && notReady.Load() > 0
	})
	cancel()
	wg.Wait()

	peak := vmHWM(t, p.cmd.Process.Pid)
	// SQLite's page cache (64 MiB for the writer, a little for readers),
	// 8 requests in flight × (1 MiB body + its decoded events), 3,000 queued
	// events, and the Go heap's headroom stay under this; without the
	// limits, 64 publishers' bodies and their decoding go past it.
	const bound = 256 << 20
	t.Logf("peak RSS %d MiB; %d batches accepted, %d shed", peak>>20, ok.Load(), shed.Load())
	if peak > bound {
		t.Fatalf("peak RSS %d MiB over the bound of %d MiB", peak>>20, bound>>20)
	}

	// Recovered: ready again and accepting.
	waitFor(t, p.ready)
	waitFor(t, func() bool {
		resp, err := httpc.Post(p.url+"/publish", "application/json", strings.NewReader(line("after", "1")))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	stored := map[string]bool{}
	for _, e := range p.listAll("flood") {
		stored[e.EventID] = true
	}
	missing := 0
	accepted.Range(func(k, _ any) bool {
		if !stored[k.(string)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged events are not stored", missing)
	}
}

// floodID is the event id of publisher w's batch b, event i.
func floodID(w, b, i int) string {
	return strconv.Itoa(w) + "-" + strconv.Itoa(b) + "-" + strconv.Itoa(i)
}
