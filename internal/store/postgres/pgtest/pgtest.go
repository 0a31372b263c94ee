// Package pgtest gives tests a PostgreSQL schema of their own.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URL returns the database to test against. Without one the tests skip
// on a developer's machine but fail in CI, where .ci/run provides it.
func URL(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("EVENTAGG_TEST_POSTGRES_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("EVENTAGG_TEST_POSTGRES_URL is not set; CI must run the PostgreSQL tests")
		}
		tb.Skip("EVENTAGG_TEST_POSTGRES_URL is not set")
	}
	return dsn
}

// FreshSchema creates an empty schema, dropped when the test ends, and
// returns a URL whose connections use it.
func FreshSchema(tb testing.TB) string {
	tb.Helper()
	base := URL(tb)
	schema := create(tb, base, "SCHEMA", "DROP SCHEMA %s CASCADE")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// FreshDatabase creates an empty database, dropped when the test ends, and
// returns a URL for it. A test that needs VACUUM to reclaim dead rows uses
// one: dead rows stay while any transaction in the same database holds an
// older snapshot, and other tests' transactions in the shared database
// would (since PostgreSQL 14 the horizon is per database). So does a test
// that needs a database of other options (CREATE DATABASE's, say a
// collation).
func FreshDatabase(tb testing.TB, options ...string) string {
	tb.Helper()
	base := URL(tb)
	name := create(tb, base, "DATABASE", "DROP DATABASE %s WITH (FORCE)", options...)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("EVENTAGG_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// create makes an object of a random name with CREATE kind … options and
// drops it with drop when the test ends.
func create(tb testing.TB, base, kind, drop string, options ...string) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", base, err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("eventagg_test_%d", rand.Uint64()>>1)
	if _, err := conn.Exec(ctx, "CREATE "+kind+" "+name+" "+strings.Join(options, " ")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), fmt.Sprintf(drop, name))
			c.Close(context.Background())
		}
	})
	return name
}
