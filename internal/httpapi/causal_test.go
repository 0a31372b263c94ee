package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/eventagg/eventagg/client"
	"github.com/eventagg/eventagg/internal/httpapi"
)

// These tests drive a real server through the Go client, whose Lamport
// clock stamps what it publishes and observes what it reads.

var causalBase = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func causalEvent(topic, id string, wall time.Time) client.Event {
	return client.Event{Topic: topic, EventID: id, Timestamp: client.Time(wall), Source: "causal-test", Payload: []byte(`{}`)}
}

// listIDs reads a whole listing of topic in order through c, page by page.
func listIDs(t *testing.T, c *client.Client, topic, order string) []string {
	t.Helper()
	var ids []string
	q := client.EventQuery{Topic: topic, Order: order, Limit: 7}
	for {
		page, err := c.Events(context.Background(), q)
		if err != nil {
			t.Fatalf("events %s order=%s: %v", topic, order, err)
		}
		for _, e := range page.Events {
			ids = append(ids, e.EventID)
		}
		if page.Next == "" {
			return ids
		}
		q.After = page.Next
	}
}

func before(ids []string, a, b string) bool {
	i, j := slices.Index(ids, a), slices.Index(ids, b)
	return i >= 0 && j >= 0 && i < j
}

// (a) Publisher A's wall clock runs 5 s ahead of B's, and A has published
// before. B reads A's event, then reacts: event time puts the reaction
// first, causal order after its cause.
func TestCausalOrderBeatsSkewedWallClocks(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	ctx := context.Background()
	pa, pb := client.New(a.srv.URL), client.New(a.srv.URL)
	for i := 0; i < 10; i++ { // A's clock is well ahead of B's fresh one
		if _, err := pa.Publish(ctx, causalEvent("other", fmt.Sprint("warm-", i), causalBase)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pa.Publish(ctx, causalEvent("orders", "cause", causalBase.Add(5*time.Second))); err != nil {
		t.Fatal(err)
	}
	listIDs(t, pb, "orders", "arrival") // B sees the cause
	if _, err := pb.Publish(ctx, causalEvent("orders", "reaction", causalBase)); err != nil {
		t.Fatal(err)
	}
	if ids := listIDs(t, pb, "orders", "time"); !before(ids, "reaction", "cause") {
		t.Fatalf("order=time: %v; the skewed wall clocks should put the reaction first", ids)
	}
	if ids := listIDs(t, pb, "orders", "causal"); !before(ids, "cause", "reaction") {
		t.Fatalf("order=causal: %v, want the cause before its reaction", ids)
	}
}

// flakyTransport fails the first request and holds the second until
// released, telling when it has it: a publish whose first attempt is lost
// and whose retry lands late.
type flakyTransport struct {
	calls   int
	holding chan struct{}
	release chan struct{}
}

func (f *flakyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.calls++
	switch f.calls {
	case 1:
		return nil, errors.New("connection reset (test)")
	case 2:
		close(f.holding)
		<-f.release
	}
	return http.DefaultTransport.RoundTrip(req)
}

// (b) A's first attempt to publish the cause fails; its retry lands only
// after B, which got A's clock out of band (on a message between the two
// services), has published its reaction. Arrival order lists the reaction
// first; causal order after its cause, because the retry carries the
// clock the cause was stamped with. (A client that stamped at each attempt,
// or a B that did not observe, would list the reaction first.)
func TestCausalOrderSurvivesALateRetry(t *testing.T) {
	a := newApp(t, httpapi.Config{})
	ctx := context.Background()
	flaky := &flakyTransport{holding: make(chan struct{}), release: make(chan struct{})}
	pa := client.New(a.srv.URL, client.WithHTTPClient(&http.Client{Transport: flaky}),
		client.WithRetry(client.Retry{Base: time.Millisecond, Max: time.Millisecond, MaxElapsed: time.Minute}))
	// A's history, through another client on A's clock: A is well ahead
	// of B's fresh clock.
	warm := client.New(a.srv.URL, client.WithLamportClock(pa.Clock()))
	for i := 0; i < 50; i++ {
		if _, err := warm.Publish(ctx, causalEvent("orders", fmt.Sprint("warm-", i), causalBase)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := pa.Publish(ctx, causalEvent("orders", "cause", causalBase))
		done <- err
	}()
	<-flaky.holding // the first attempt failed; the retry is held
	pb := client.New(a.srv.URL)
	pb.Clock().Observe(pa.Clock().Now()) // the out-of-band message
	if _, err := pb.Publish(ctx, causalEvent("orders", "reaction", causalBase)); err != nil {
		t.Fatal(err)
	}
	close(flaky.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ids := listIDs(t, pb, "orders", "arrival"); !before(ids, "reaction", "cause") {
		t.Fatalf("order=arrival: %v; the late retry should land after the reaction", ids)
	}
	if ids := listIDs(t, pb, "orders", "causal"); !before(ids, "cause", "reaction") {
		t.Fatalf("order=causal: %v, want the cause before its reaction", ids)
	}
}

// (c) Many publishers with skewed wall clocks publish, read, pass clocks
// to each other out of band and retry late, at random. A vector clock per
// publisher, kept by the test, says what happened before what: order=causal
// never lists an event after one it happened before (and, so that the test
// is known to have teeth, order=time does).
func TestCausalOrderRespectsHappenedBefore(t *testing.T) {
	const publishers, steps = 5, 400
	topics := []string{"causal.a", "causal.b"}
	a := newApp(t, httpapi.Config{})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	type vclock [publishers]int
	merge := func(into *vclock, from vclock) {
		for i := range into {
			into[i] = max(into[i], from[i])
		}
	}
	var (
		pubs   [publishers]*client.Client
		vcs    [publishers]vclock
		skew   [publishers]time.Duration
		held   [publishers][]client.Event // stamped, first attempt "lost": sent later
		vcOf   = map[string]vclock{}      // event id → its vector time
		nextID int
	)
	for p := range pubs {
		pubs[p] = client.New(a.srv.URL)
		skew[p] = time.Duration(rng.IntN(20)-10) * time.Second
	}
	send := func(p int, evs ...client.Event) {
		if _, err := pubs[p].Publish(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; step < steps; step++ {
		p := rng.IntN(publishers)
		switch r := rng.IntN(10); {
		case r < 5: // a new event, stamped now; a fifth of them sent late
			vcs[p][p]++
			tick := pubs[p].Clock().Tick()
			nextID++
			ev := causalEvent(topics[rng.IntN(len(topics))], fmt.Sprint("e", nextID), causalBase.Add(skew[p]+time.Duration(step)*time.Millisecond))
			ev.Clock = &tick
			vcOf[ev.EventID] = vcs[p]
			if rng.IntN(5) == 0 {
				held[p] = append(held[p], ev)
			} else {
				send(p, ev)
			}
		case r < 7: // read a topic: whatever is stored happened before what p does next
			page, err := pubs[p].Events(ctx, client.EventQuery{Topic: topics[rng.IntN(len(topics))], Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Events {
				merge(&vcs[p], vcOf[e.EventID])
			}
		case r < 9: // a message from another publisher, carrying its clock
			q := rng.IntN(publishers)
			pubs[p].Clock().Observe(pubs[q].Clock().Now())
			merge(&vcs[p], vcs[q])
		default: // the late retries land
			if len(held[p]) > 0 {
				send(p, held[p]...)
				held[p] = nil
			}
		}
	}
	for p := range held {
		if len(held[p]) > 0 {
			send(p, held[p]...)
		}
	}
	happenedBefore := func(x, y string) bool { // x → y
		vx, vy := vcOf[x], vcOf[y]
		less := false
		for i := range vx {
			if vx[i] > vy[i] {
				return false
			}
			less = less || vx[i] < vy[i]
		}
		return less
	}
	violations := func(ids []string) (n int, example string) {
		for i := range ids {
			for j := i + 1; j < len(ids); j++ {
				if happenedBefore(ids[j], ids[i]) {
					n++
					example = fmt.Sprintf("%s (%v) listed before %s (%v), which happened before it", ids[i], vcOf[ids[i]], ids[j], vcOf[ids[j]])
				}
			}
		}
		return n, example
	}
	reader := client.New(a.srv.URL)
	timeViolations, total := 0, 0
	for _, topic := range topics {
		ids := listIDs(t, reader, topic, "causal")
		total += len(ids)
		if n, example := violations(ids); n > 0 {
			t.Fatalf("%s, order=causal: %d pairs out of happened-before order, e.g. %s", topic, n, example)
		}
		n, _ := violations(listIDs(t, reader, topic, "time"))
		timeViolations += n
	}
	if total != nextID {
		t.Fatalf("listed %d events, published %d", total, nextID)
	}
	if timeViolations == 0 {
		t.Fatal("order=time kept happened-before too: the skew and the late retries did not test anything")
	}
	t.Logf("%d events; order=time put %d pairs out of happened-before order, order=causal none", total, timeViolations)
}
