package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the real eventagg, built once for the tests that run it as a
// separate process (crash and signal tests).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventagg-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "eventagg")
	// -buildvcs=true: Go stamps the revision by default, but a GOFLAGS of
	// -buildvcs=false (this machine's go env has one) would hide it from
	// TestVersionNamesTheRevision.
	build := exec.Command("go", "build", "-race", "-buildvcs=true", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building eventagg:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running `eventagg serve`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	exited chan error
	log    *bytes.Buffer // the process's stderr, for failure messages
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// startServe runs the binary on a free loopback port and waits for its
// "listening" line, which names the port it got.
func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	p, err := launch(t, binary, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launch is startServe for any build of eventagg; it reports a server that
// exits before it listens as an error.
func launch(t *testing.T, bin string, args ...string) (*proc, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "EVENTAGG_ADDR=", "EVENTAGG_DB=", "EVENTAGG_STORE=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, exited: make(chan error, 1), log: &bytes.Buffer{}}
	addr := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.log.WriteString(line + "\n")
			if m := addrRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	go func() {
		<-logDone
		p.exited <- cmd.Wait()
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			<-p.exited
			return nil, fmt.Errorf("eventagg exited before listening:\n%s", p.log)
		}
		p.url = "http://" + a
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-p.exited
		return nil, errors.New("eventagg did not start listening within 60s")
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, nil
}

// ready reports whether /readyz answers 200.
func (p *proc) ready() bool {
	resp, err := httpc.Get(p.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
}

// terminate sends SIGTERM and returns the exit error (nil for exit 0).
func (p *proc) terminate() error {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(60 * time.Second):
		p.t.Fatalf("no exit 60s after SIGTERM:\n%s", p.log)
		return nil
	}
}

var httpc = &http.Client{Timeout: 30 * time.Second}

func (p *proc) getJSON(path string, v any) {
	p.t.Helper()
	resp, err := httpc.Get(p.url + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		p.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		p.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

type stats struct {
	Received        int64    `json:"received"`
	UniqueProcessed int64    `json:"unique_processed"`
	DuplicateDrop   int64    `json:"duplicate_dropped"`
	Conflicts       int64    `json:"conflicts"`
	Rejected        int64    `json:"rejected"`
	Pending         int64    `json:"pending"`
	Stored          int64    `json:"stored"`
	Expired         int64    `json:"expired"`
	Topics          []string `json:"topics"`
	PerTopic        []struct {
		Topic     string `json:"topic"`
		LastSeq   int64  `json:"last_seq"`
		Processed int64  `json:"processed"`
	} `json:"per_topic"`
}

// waitProcessed polls /stats until the consumer has caught up (a condition,
// not a fixed sleep) and returns the stats.
func (p *proc) waitProcessed() stats {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var s stats
		p.getJSON("/stats", &s)
		if s.Pending == 0 {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("still %d pending after 60s", s.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type stored struct {
	Topic   string `json:"topic"`
	EventID string `json:"event_id"`
	Seq     int64  `json:"seq"`
}

// listAll reads a topic's whole arrival listing through the API.
func (p *proc) listAll(topic string) []stored {
	p.t.Helper()
	var all []stored
	after := ""
	for {
		var page struct {
			Events []stored `json:"events"`
			Next   string   `json:"next"`
		}
		p.getJSON("/events?limit=10000&topic="+topic+"&after="+after, &page)
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		after = page.Next
	}
}
