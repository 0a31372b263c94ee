package main

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
)

// TestFailoverLosesNothingAcknowledged runs two replicas on a primary with
// a synchronous standby, reached by a multi-host URL that takes whichever
// host accepts writes. Under load the primary is SIGKILLed and the standby
// promoted: in between /publish answers 503 with Retry-After, the replicas
// find the new primary by themselves, and afterwards every acknowledged
// event is on it exactly once with the seq it was acknowledged with, seqs
// are gap-free and each event was processed once.
//
// An acknowledgement must wait for the standby too. Groups commit without
// waiting for their flush and are acknowledged after a wait for the WAL
// flush; a wait that looked only at the primary's own flush acknowledged
// groups the standby did not have yet, which the promotion then lost.
func TestFailoverLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two PostgreSQL clusters of its own")
	}
	primary := pgtest.StartCluster(t)
	standby := pgtest.StartStandby(t, primary, "standby")
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		primary.Port(), standby.Port())
	replicas := []*proc{startServe(t, "--store", url), startServe(t, "--store", url)}
	ledger := &ackLedger{acked: map[string]int64{}}
	pick := func(pub, attempt int) string { return replicas[(pub+attempt)%len(replicas)].url }
	crashRound(t, ledger, 0, replicas, pick, func() {
		primary.Kill()
		// Between the kill and the promotion no host takes writes.
		resp, err := httpc.Post(replicas[0].url+"/publish", "application/json", strings.NewReader(line("failover", "between")))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("publish with no primary: %d %s, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
		standby.Promote()
	})
	for _, p := range replicas {
		waitFor(t, p.ready)
	}
	// Publishing goes on against the new primary.
	crashRound(t, ledger, crashPublishers, replicas, pick, func() {})
	verifyCrashState(t, replicas[0], ledger)
}
