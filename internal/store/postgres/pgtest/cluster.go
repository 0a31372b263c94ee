package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server of a test's own (initdb in a temporary
// directory, its own port), for tests that crash the database itself, which
// the shared server of the other tests must not suffer.
type Cluster struct {
	tb         testing.TB
	bin        string // PostgreSQL's bin directory
	dir        string // holds data/, the socket and the log
	data       string // the data directory the server runs on: dir/data, or a mount of it
	port       int
	cred       *syscall.Credential // the cluster's owner, when we are root
	postmaster *exec.Cmd
	exited     chan struct{}
}

// StartCluster creates and starts a cluster, stopped and removed when the
// test ends. Without PostgreSQL's server binaries it skips on a developer's
// machine and fails in CI, like URL.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c := InitCluster(tb)
	c.Start()
	return c
}

// InitCluster creates a cluster (initdb) and does not start it, for a test
// that serves its data directory through a mount first (ServeFrom).
func InitCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			tb.Fatal("PostgreSQL server binaries (initdb) not found; CI must run the PostgreSQL crash test")
		}
		tb.Skip("PostgreSQL server binaries (initdb) not found")
	}
	c := &Cluster{tb: tb, bin: filepath.Dir(bins[len(bins)-1])}
	dir := c.makeDir("eventagg-pg-")
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root and no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	c.port = freePort(tb)
	c.data = filepath.Join(dir, "data")
	initdb := c.command(filepath.Join(c.bin, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	return c
}

// Dir is the cluster's own directory (its data directory, socket and log
// are in it); DataDir is the data directory initdb made.
func (c *Cluster) Dir() string     { return c.dir }
func (c *Cluster) DataDir() string { return filepath.Join(c.dir, "data") }

// ServeFrom makes the server run on dir from its next Start: a mount of
// DataDir.
func (c *Cluster) ServeFrom(dir string) { c.data = dir }

// Running says whether the server is started and not killed.
func (c *Cluster) Running() bool { return c.postmaster != nil }

// URL is the cluster's database, for the default postgres user.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server, as a child of the test so that it can be reaped
// after a Kill, and waits until it accepts connections; after a Kill it
// first recovers from its WAL, as after a crash.
func (c *Cluster) Start() {
	c.tb.Helper()
	log, err := os.OpenFile(filepath.Join(c.dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer log.Close()
	c.postmaster = c.command(filepath.Join(c.bin, "postgres"), "-D", c.data,
		"-p", strconv.Itoa(c.port), "-c", "listen_addresses=127.0.0.1", "-k", c.dir)
	c.postmaster.Stdout, c.postmaster.Stderr = log, log
	if err := c.postmaster.Start(); err != nil {
		c.tb.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(c.postmaster, c.exited)
	// Readiness can only be polled: pg_isready until it says yes.
	deadline := time.Now().Add(2 * time.Minute)
	for exec.Command(filepath.Join(c.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port)).Run() != nil {
		select {
		case <-c.exited:
			b, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			c.tb.Fatalf("PostgreSQL exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			c.tb.Fatal("PostgreSQL did not accept connections within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the postmaster and every server process at once with SIGKILL:
// what is only in PostgreSQL's shared memory (WAL buffers not yet written)
// is gone, as in a crash.
func (c *Cluster) Kill() {
	c.tb.Helper()
	pid := c.postmaster.Process.Pid
	// Freeze the postmaster first, so that it can neither fork nor react
	// to its children's deaths, then freeze and kill them all.
	syscall.Kill(pid, syscall.SIGSTOP)
	procs := append([]int{pid}, children(pid)...)
	for _, p := range procs[1:] {
		syscall.Kill(p, syscall.SIGSTOP)
	}
	for _, p := range procs {
		syscall.Kill(p, syscall.SIGKILL)
	}
	<-c.exited
	c.postmaster = nil
	// Polling is the only way to see a process that is not our child go.
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range procs[1:] {
		for alive(p) {
			if time.Now().After(deadline) {
				c.tb.Fatalf("PostgreSQL process %d survived SIGKILL", p)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its parent has).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// command prepares a PostgreSQL program to run as the cluster's owner.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// makeDir makes the cluster's directory, which the test's end removes
// with the cluster killed.
func (c *Cluster) makeDir(prefix string) string {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.dir = dir
	c.tb.Cleanup(func() {
		if c.Running() {
			c.Kill()
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Port is the port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// StartStandby makes a streaming standby of primary (pg_basebackup), named
// name for synchronous_standby_names, starts it, and makes it the
// primary's synchronous standby: from then on a commit that waits for its
// flush (synchronous_commit=on) waits for the standby's too.
func StartStandby(tb testing.TB, primary *Cluster, name string) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, bin: primary.bin, cred: primary.cred, port: freePort(tb)}
	dir := c.makeDir("eventagg-pg-standby-")
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	c.data = data
	backup := c.command(filepath.Join(c.bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port),
		"-U", "postgres", "-D", data, "-X", "stream", "-R", "--no-sync")
	if out, err := backup.CombinedOutput(); err != nil {
		tb.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'\n", primary.port, name)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		f.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	c.Start()
	primary.SQL(fmt.Sprintf("ALTER SYSTEM SET synchronous_standby_names = '%s'", name), "SELECT pg_reload_conf()")
	primary.waitFor(fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE application_name = '%s' AND sync_state = 'sync')", name))
	return c
}

// Promote makes a standby the primary and waits until it takes writes.
func (c *Cluster) Promote() {
	c.tb.Helper()
	if out, err := c.command(filepath.Join(c.bin, "pg_ctl"), "promote", "-D", c.data).CombinedOutput(); err != nil {
		c.tb.Fatalf("pg_ctl promote: %v\n%s", err, out)
	}
	c.waitFor("SELECT NOT pg_is_in_recovery()")
}

// SQL runs statements on the cluster's postgres database.
func (c *Cluster) SQL(statements ...string) {
	c.tb.Helper()
	conn, err := pgx.Connect(context.Background(), c.URL())
	if err != nil {
		c.tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, s := range statements {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			c.tb.Fatalf("%s: %v", s, err)
		}
	}
}

// waitFor polls a query that answers a boolean until it says true, for at
// most a minute: replication and promotion can only be watched that way.
func (c *Cluster) waitFor(query string) {
	c.tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var ok bool
		conn, err := pgx.Connect(context.Background(), c.URL())
		if err == nil {
			err = conn.QueryRow(context.Background(), query).Scan(&ok)
			conn.Close(context.Background())
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("%s: not true within a minute (%v)", query, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pause stops every process of the cluster (SIGSTOP) without killing it:
// a standby that stops confirming, a server that stops answering.
func (c *Cluster) Pause() { c.signal(syscall.SIGSTOP) }

// Resume continues a paused cluster.
func (c *Cluster) Resume() { c.signal(syscall.SIGCONT) }

func (c *Cluster) signal(sig syscall.Signal) {
	pid := c.postmaster.Process.Pid
	for _, p := range append([]int{pid}, children(pid)...) {
		syscall.Kill(p, sig)
	}
}
