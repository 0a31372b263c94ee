// Package pgtest gives tests a PostgreSQL schema of their own.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URL returns the database to test against. Without one the tests skip
// on a developer's machine but fail in CI, where .ci/run provides it.
func URL(tb testing.TB) string {
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
	url := URL(tb)
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
