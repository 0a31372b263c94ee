package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/eventagg/eventagg/internal/store/sqlite"
)

// backup is `eventagg backup`: a consistent copy of a live SQLite database.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", getenv)
	fs.SetOutput(stderr)
	db := fs.String("db", "EVENTAGG_DB", "./eventagg.db", "SQLite database file to copy (the service may keep running)")
	store := fs.String("store", "EVENTAGG_STORE", "", "store URL; for postgres:// this explains how to back it up with pg_dump")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: eventagg backup [--db PATH] OUT

Writes a consistent snapshot of a live SQLite database to the new file OUT
while the service keeps publishing: every event acknowledged before the
backup started is in it. Restore by stopping the service and starting it
with --db OUT (or moving OUT over the database file and its -wal and -shm).

`)
		fs.PrintDefaults()
	}
	rest, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if scheme, _, _ := strings.Cut(*store, ":"); scheme == "postgres" || scheme == "postgresql" {
		return fmt.Errorf("backup: a PostgreSQL store is backed up with PostgreSQL's own tools, which take a consistent snapshot of a live database: " +
			"pg_dump --format=custom --file=OUT \"$EVENTAGG_STORE\" (add --schema=NAME if the URL sets search_path), restored with pg_restore --dbname=URL OUT; " +
			"or continuous archiving (pg_basebackup and WAL archiving) for point-in-time recovery")
	} else if rest, ok := strings.CutPrefix(*store, "sqlite:"); ok {
		*db = rest
	} else if *store != "" {
		return fmt.Errorf("--store %q: unsupported store; use postgres://… or sqlite:PATH", *store)
	}
	if len(rest) != 1 {
		fs.Usage()
		return exitError{2}
	}
	out := rest[0]
	start := time.Now()
	if err := sqlite.Backup(ctx, *db, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s in %s\n", *db, out, time.Since(start).Round(time.Millisecond))
	return nil
}
