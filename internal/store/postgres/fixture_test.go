package postgres_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/eventagg/eventagg/internal/store/postgres/pgtest"
	"github.com/eventagg/eventagg/internal/store/storetest"
)

// TestFixtureGenerator runs the fixture generator on the current schema and
// checks it with the same check the migration tests use. With
// EVENTAGG_FIXTURE_OUT set it also dumps the schema there, its name
// replaced by EVENTAGG_FIXTURE_SCHEMA: that is how testdata/schemaN.sql is
// made (run it on the code of schema N, with the name mkvN).
func TestFixtureGenerator(t *testing.T) {
	url := pgtest.FreshSchema(t)
	s := mustOpen(t, url)
	storetest.WriteFixture(t, s)
	if out := os.Getenv("EVENTAGG_FIXTURE_OUT"); out != "" {
		writeDump(t, url, out, os.Getenv("EVENTAGG_FIXTURE_SCHEMA"))
	}
	defer s.Close()
	storetest.CheckSchema1(t, s)
}

// writeDump writes pg_dump's plain SQL of the test's schema, without
// comments, ownership, psql's \restrict lines or the schema's own
// creation, so that a test can restore it into a schema of any name.
func writeDump(t *testing.T, url, out, name string) {
	schema := schemaOf(url)
	base := url[:strings.Index(url, "search_path=")-1]
	cmd := exec.Command("pg_dump", "--inserts", "--no-owner", "--no-privileges", "--schema="+schema, "--dbname="+base)
	cmd.Stderr = os.Stderr
	dump, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	drop := regexp.MustCompile(`(?m)^(--.*|\\(un)?restrict .*|CREATE SCHEMA .*|SELECT pg_catalog.set_config\('search_path'.*)?\n`)
	dump = drop.ReplaceAll(dump, nil)
	dump = bytes.ReplaceAll(dump, []byte(schema+"."), []byte(name+"."))
	if err := os.WriteFile(out, dump, 0o644); err != nil {
		t.Fatal(err)
	}
}

// schemaOf is the schema a pgtest URL's connections use.
func schemaOf(url string) string {
	return url[strings.LastIndex(url, "search_path=")+len("search_path="):]
}
