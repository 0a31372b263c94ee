package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/postgres"
	"github.com/eventagg/eventagg/internal/store/storetest"
	"github.com/jackc/pgx/v5"
)

// testURL returns the database to test against. Without one the tests skip
// on a developer's machine but fail in CI, where .ci/run provides it.
func testURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("EVENTAGG_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("EVENTAGG_TEST_POSTGRES_URL is not set; CI must run the PostgreSQL tests")
		}
		tb.Skip("EVENTAGG_TEST_POSTGRES_URL is not set")
	}
	return url
}

// FreshSchema creates an empty schema, dropped when the test ends, and
// returns a URL whose connections use it.
func FreshSchema(tb testing.TB) string {
	tb.Helper()
	url := testURL(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("eventagg_test_%d", rand.Uint64()>>1)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), url)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

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
		url := FreshSchema(t)
		return func() eventagg.Store { return mustOpen(t, url) }
	})
}

// Replicas starting at once each run the migrations safely.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := FreshSchema(t)
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
