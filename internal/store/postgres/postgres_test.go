package postgres_test

import (
	"context"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/postgres"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

func mustOpen(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() eventagg.Store {
		url := pgtest.FreshSchema(t)
		return func() eventagg.Store { return mustOpen(t, url) }
	})
}

// Replicas starting at once each run the migrations safely.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.FreshSchema(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := postgres.Open(context.Background(), url)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if eventagg.ErrorCode(err) != eventagg.EUNAVAILABLE {
		t.Fatalf("err %v (code %q), want unavailable", err, eventagg.ErrorCode(err))
	}
}
