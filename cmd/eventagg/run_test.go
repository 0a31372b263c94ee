package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestServeFlagErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.db")
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--max-events", "0", "--db", db}, nil, "--max-events must be greater than 0"},
		{[]string{"serve", "--db", db}, map[string]string{"EVENTAGG_MAX_EVENTS": "lots"}, `EVENTAGG_MAX_EVENTS="lots": not a whole number`},
		{[]string{"serve", "--db", db, "--log-level", "loud"}, nil, "--log-level"},
		{[]string{"serve", "--store", "mysql://x"}, nil, "unsupported store"},
		{[]string{"serve", "--db", filepath.Join(t.TempDir(), "missing-dir", "x.db")}, nil, "open SQLite database"},
		{[]string{"serve", "--db", db, "--addr", "256.0.0.1:1"}, nil, "--addr 256.0.0.1:1"},
		{[]string{"serve", "extra"}, nil, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		err := run(context.Background(), c.args, env(c.env), nil, &stderr, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.args, err, c.want)
		}
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, env(nil), nil, &out, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	for _, want := range []string{"-addr", "EVENTAGG_ADDR", "-db", "EVENTAGG_DB", "-max-body-bytes", "-max-events", "-store"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %s:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"frobnicate"}, env(nil), nil, &out, &out); err == nil || !strings.Contains(out.String(), "unknown command") {
		t.Fatalf("unknown command: %v %s", err, out.String())
	}
}

// The env fallbacks reach the service: EVENTAGG_DB names the file it opens.
func TestServeRunsInProcessAndStopsOnCancel(t *testing.T) {
	db := filepath.Join(t.TempDir(), "env.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env(map[string]string{"EVENTAGG_ADDR": "127.0.0.1:0", "EVENTAGG_DB": db}), nil, &stderr, &stderr)
	}()
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "listening") })
	if !strings.Contains(stderr.String(), "store=sqlite:"+db) || !strings.Contains(stderr.String(), "version=") {
		t.Fatalf("startup line lacks store or version:\n%s", stderr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

// The binary built from this checkout names its revision, not "dev".
func TestVersionNamesTheRevision(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	rev, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	if got := string(out); !strings.HasPrefix(got, "eventagg ") || !strings.Contains(got, "rev "+strings.TrimSpace(string(rev))) {
		t.Fatalf("eventagg version printed %q, want the revision %s", got, rev)
	}
}
