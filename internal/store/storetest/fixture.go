package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventagg/eventagg"
)

// WriteFixture writes into an empty store what CheckSchema1 expects to find
// after a migration: 300 events e0…e299 over 40 topics in three groups of
// 100, every seventh of a group sent twice, 0, 1 and 2 rejects, and only the
// first group processed. Each store's testdata/schemaN.db was made by this
// function running on that schema's code; a store test runs it on the
// current code too, so generator and checker cannot drift apart.
func WriteFixture(t testing.TB, s eventagg.Store) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for g := 0; g < 3; g++ {
		var group, again []eventagg.Event
		for k := 0; k < 100; k++ {
			n := g*100 + k
			e := eventagg.Event{Topic: fmt.Sprintf("t%02d", k%40), EventID: fmt.Sprintf("e%d", n), Source: "v1",
				Timestamp: base.Add(time.Duration(1000-n) * time.Second),
				Payload:   []byte(fmt.Sprintf(`{"id":"e%d","n":%d}`, n, 1000-n))}
			group = append(group, e)
			if k%7 == 0 {
				again = append(again, e)
			}
		}
		if _, err := s.Append(ctx, append(group, again...), g); err != nil {
			t.Fatal(err)
		}
		if g == 0 {
			if n := drain(t, s, 64); n != 100 {
				t.Fatalf("processed %d of the first group", n)
			}
		}
	}
}
