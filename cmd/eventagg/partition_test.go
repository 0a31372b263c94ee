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

// stallProxy forwards TCP to PostgreSQL and can stop forwarding in either
// direction without closing anything: the connections stay open and the
// bytes stop, as when a link drops packets. New connections are accepted
// and stall the same way.
type stallProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	toDB   bool // forwarding client → PostgreSQL
	fromDB bool // forwarding PostgreSQL → client
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, toDB: true, fromDB: true}
	p.cond = sync.NewCond(&p.mu)
	t.Cleanup(func() { ln.Close(); p.set(true, true) })
	go p.serve()
	return p
}

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		go p.pipe(up, c, func() bool { return p.toDB })
		go p.pipe(c, up, func() bool { return p.fromDB })
	}
}

// pipe copies src to dst, holding each chunk while its direction is stalled.
func (p *stallProxy) pipe(dst, src net.Conn, open func() bool) {
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

func (p *stallProxy) set(toDB, fromDB bool) {
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
			u, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			proxy := newStallProxy(t, u.Host)
			u.Host = proxy.ln.Addr().String()
			q := u.Query()
			q.Set("connect_timeout", "2")
			u.RawQuery = q.Encode()
			const timeout = 2 * time.Second
			cfg := serveConfig{addr: "127.0.0.1:0", maxBody: 1 << 20, maxEvents: 100, maxQueued: 1000, storeTimeout: timeout}
			cfg.store = u.String()
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

			proxy.set(cut.toDB, cut.fromDB)
			began := time.Now()
			code, retry := post(cutOff, "during")
			if took := time.Since(began); code != 503 || retry == "" || took > timeout+5*time.Second {
				t.Fatalf("during the cut: %d, Retry-After %q, after %v (store timeout %v)", code, retry, took, timeout)
			}
			if code, _ := post(other, "other-during"); code != 200 {
				t.Fatalf("the other replica during the cut: %d", code)
			}

			proxy.set(true, true)
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
