package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/postgres"
	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
	"github.com/eventagg/eventagg/internal/store/storetest"
	"github.com/jackc/pgx/v5"
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

// TestOpensSchema1Database restores a schema written by the store of
// schema version 1 (testdata/schema1.sql: pg_dump of what that version's
// code made; see storetest.CheckSchema1) into a fresh schema, opens it,
// which migrates it, and reads everything back.
func TestOpensSchema1Database(t *testing.T) {
	url := pgtest.FreshSchema(t)
	schema := url[strings.LastIndex(url, "search_path=")+len("search_path="):]
	dump, err := os.ReadFile("testdata/schema1.sql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, strings.ReplaceAll(string(dump), "mkv1.", schema+"."))
	conn.Close(ctx)
	if err != nil {
		t.Fatalf("restore the schema-1 dump: %v", err)
	}
	s := mustOpen(t, url)
	defer s.Close()
	storetest.CheckSchema1(t, s)
}
