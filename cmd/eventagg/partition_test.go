package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

// faultProxy forwards TCP to PostgreSQL and fails in two ways. cut drops
// every connection and refuses new ones, as a database restart looks to a
// client, until restore. stall stops the bytes in one direction or both
// while the connections stay open, as when a link drops packets; new
// connections are accepted and stall the same way.
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	down   bool
	conns  []net.Conn
	toDB   bool // forwarding client → PostgreSQL
	fromDB bool // forwarding PostgreSQL → client
}

// proxyTo puts a faultProxy before the database of dbURL and returns it
// with the URL that goes through it.
func proxyTo(t *testing.T, dbURL, connectTimeout string) (*faultProxy, string) {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFaultProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", connectTimeout)
	u.RawQuery = q.Encode()
	return proxy, u.String()
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, toDB: true, fromDB: true}
	p.cond = sync.NewCond(&p.mu)
	t.Cleanup(func() { ln.Close(); p.stall(true, true); p.cut() })
	go p.serve()
	return p
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c, func() bool { return p.toDB })
		go p.pipe(c, up, func() bool { return p.fromDB })
	}
}

// pipe copies src to dst, holding each chunk while its direction stalls.
func (p *faultProxy) pipe(dst, src net.Conn, open func() bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for !open() {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// stall sets which directions forward: false stops that one.
func (p *faultProxy) stall(toDB, fromDB bool) {
	p.mu.Lock()
	p.toDB, p.fromDB = toDB, fromDB
	p.mu.Unlock()
	p.cond.Broadcast()
}

// TestPartitionFailsFastAndHeals cuts one replica off PostgreSQL, both
// ways and each way alone, with the connections left open: its publishes
// answer 503 with Retry-After within the store timeout (none hangs), the
// other replica goes on serving, and when the link returns the cut replica
// recovers by itself. Nothing acknowledged is lost or doubled, seqs stay
// gap-free and every event is processed.
func TestPartitionFailsFastAndHeals(t *testing.T) {
	for _, cut := range []struct {
		name         string
		toDB, fromDB bool
	}{{"both ways", false, false}, {"to the database", false, true}, {"from the database", true, false}} {
		t.Run(cut.name, func(t *testing.T) {
			dbURL := pgtest.FreshSchema(t)
			proxy, proxied := proxyTo(t, dbURL, "2")
			const timeout = 5 * time.Second // generous: CI runs packages side by side, under -race
			cfg := serveConfig{addr: "127.0.0.1:0", maxBody: 1 << 20, maxEvents: 100, maxQueued: 1000, storeTimeout: timeout}
			cfg.store = proxied
			cutOff, err := startService(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer cutOff.stop(10 * time.Second)
			cfg.store = dbURL
			other, err := startService(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer other.stop(10 * time.Second)
			post := func(svc *service, id string) (int, string) {
				resp, err := httpc.Post(svc.URL()+"/publish", "application/json", strings.NewReader(line("pg", id)))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, resp.Header.Get("Retry-After")
			}
			if code, _ := post(cutOff, "before"); code != 200 {
				t.Fatalf("before the cut: %d", code)
			}

			proxy.stall(cut.toDB, cut.fromDB)
			began := time.Now()
			code, retry := post(cutOff, "during")
			if took := time.Since(began); code != 503 || retry == "" || took > timeout+5*time.Second {
				t.Fatalf("during the cut: %d, Retry-After %q, after %v (store timeout %v)", code, retry, took, timeout)
			}
			if code, _ := post(other, "other-during"); code != 200 {
				t.Fatalf("the other replica during the cut: %d", code)
			}

			proxy.stall(true, true)
			waitFor(t, func() bool { code, _ := post(cutOff, "after"); return code == 200 })
			p := &proc{t: t, url: other.URL()}
			seen := map[string]int{}
			for i, e := range p.listAll("pg") {
				seen[e.EventID]++
				if e.Seq != int64(i+1) {
					t.Fatalf("seq %d at place %d: not gap-free", e.Seq, i+1)
				}
			}
			for _, id := range []string{"before", "other-during", "after"} {
				if seen[id] != 1 {
					t.Fatalf("acknowledged %q stored %d times (%v)", id, seen[id], seen)
				}
			}
			if seen["during"] > 1 {
				t.Fatalf("the unanswered event stored %d times", seen["during"])
			}
			waitFor(t, func() bool {
				var s stats
				(&proc{t: t, url: cutOff.URL()}).getJSON("/stats", &s)
				return s.Pending == 0 && s.UniqueProcessed == int64(len(seen))
			})
		})
	}
}
