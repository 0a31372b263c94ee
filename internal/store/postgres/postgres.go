// Package postgres is the store for several replicas on one PostgreSQL
// database. Every guarantee of the embedded store holds across replicas:
// per-topic row locks serialise the writers of one topic (gap-free seq), the
// dedup key is a unique constraint, the consumer takes a per-topic lease with
// FOR UPDATE SKIP LOCKED, and counters are sharded rows.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/migrations"
	"github.com/eventagg/eventagg/internal/store/namecache"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

const counterShards = 16

// buckets is the number of buckets topics hash into (topic_id % buckets):
// the unit of the writers' locks and of the consumer's offsets. Migration
// 002 fixes it (its index is on topic_id % 64), so it cannot change without
// a migration; bucketsSQL is the same number for SQL text, which must
// repeat the index's expression exactly for PostgreSQL to use it.
const (
	buckets    = 64
	bucketsSQL = "64"
)

// maxCachedTopics bounds knownTopics: some 80 bytes a name.
const maxCachedTopics = 1 << 18

// Store is the PostgreSQL implementation of eventagg.Store.
type Store struct {
	pool *pgxpool.Pool
	name string
	// knownTopics caches the row id of topic names seen, bounded.
	knownTopics *namecache.Cache[int64]
	// lastSeqs is what this replica's commits taught it of its topics'
	// last seqs: hints the group statement checks (see lastSeqs).
	lastSeqs *lastSeqs
	// Now returns the commit time stamped on events; tests replace it.
	Now func() time.Time
}

var _ eventagg.Store = (*Store)(nil)

// plannerSettings hold on every connection of the store (unless the URL
// says otherwise). Each statement of the store is written to be index
// probes and index ranges, one per key or per topic, whatever the tables
// hold. But pgx prepares statements, and PostgreSQL soon plans each once
// per connection (a generic plan) with the tables' sizes of that moment:
// once a VACUUM has measured a young store's tables at a few rows, scans
// and hash joins are the cheaper plans, and a connection that planned then
// went on scanning tables as they grew (seen with auto_explain: the lookup
// of topic ids read the whole topics table, 30–50 ms a group at 100,000
// topics; the listings, End and retention were as exposed). With these off
// the planner takes the index paths the statements were written for
// (TestStatementsProbeIndexes). JIT goes too: a scan of a tiny table that
// has no other path (the counter shards, the buckets) then carries the
// penalty cost that keeps scans off, which is above jit_above_cost, and
// compiling two statements took 70–85 ms each of a /stats that otherwise
// takes 17.
var plannerSettings = map[string]string{"enable_seqscan": "off", "enable_hashjoin": "off", "enable_mergejoin": "off", "jit": "off"}

// Open connects to the database at url (postgres://…) and brings its schema
// up to date. The pool reconnects by itself when the server comes back.
func Open(ctx context.Context, url string) (*Store, error) {
	return open(ctx, url, nil)
}

// open is Open, with a last word on the pool's configuration for tests.
func open(ctx context.Context, url string, configure func(*pgxpool.Config)) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL: %w", err)
	}
	cfg.MaxConns = max(cfg.MaxConns, 8)
	for k, v := range plannerSettings {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, name: "postgres://" + cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database, Now: time.Now,
		knownTopics: namecache.New[int64](maxCachedTopics), lastSeqs: newLastSeqs(maxCachedTopics)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, interpretError(fmt.Errorf("postgres %s: %w", s.name, err))
	}
	return s, nil
}

// String names the store for logs, without credentials.
func (s *Store) String() string { return s.name }

// migrate applies what the schema lacks, under an advisory lock so that
// replicas starting together run each migration once; each migration and
// its version row commit together.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	const lockKey = 0x6576656e74616767 // "eventagg"
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockKey)); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(lockKey))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var have int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	pending, err := migrations.Pending(ms, have)
	if err != nil {
		return err
	}
	for _, m := range pending {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return fillDigests(ctx, conn.Conn())
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return interpretError(s.pool.Ping(ctx))
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// flushWait "skip" makes durable return at once: a build with durability
// deliberately broken, for the test that proves the power-cut test would
// see it. Only the linker sets it (-X), never a flag or the environment.
var flushWait = "wait"

// durable returns once everything committed so far, by any replica, is
// flushed to the WAL on disk, and, with a synchronous standby, on the
// standby's too. It commits a tiny WAL record (a logical message, which
// takes no locks) with the default synchronous_commit=on: that commit waits
// for the record's flush, and so for everything before it, locally and on
// the synchronous standbys. Without standbys it is skipped when the local
// flush has caught up already; with one it never is, since the primary's
// flush says nothing of the standby's (TestDurableWaitsForTheSyncStandby).
// pg_current_wal_insert_lsn is read after the caller's own statements, so
// it is past the commit record of everything they saw.
func (s *Store) durable(ctx context.Context) error {
	if flushWait == "skip" {
		return nil
	}
	_, err := s.pool.Exec(ctx, `SELECT CASE WHEN pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()
		OR current_setting('synchronous_standby_names') <> ''
		THEN pg_logical_emit_message(true, 'eventagg', 'durable') END`)
	if err != nil {
		return fmt.Errorf("wait for WAL flush: %w", err)
	}
	return nil
}

// shard picks a counter row for one transaction.
func shard() int { return rand.IntN(counterShards) }

// interpretError turns connection failures and SQLSTATE classes (never
// message text) into domain errors: "unavailable" means retry later.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	var netErr net.Error
	var connErr *pgconn.ConnectError
	msg := ""
	switch {
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code == "53100":
			msg = "store unavailable: database disk full"
		case pgErr.Code[:2] == "08", pgErr.Code[:2] == "53", pgErr.Code[:2] == "57":
			// connection exception, insufficient resources, operator
			// intervention (shutdown, restart)
			msg = "store unavailable: database is not accepting work"
		case pgErr.Code == "40001", pgErr.Code == "40P01":
			msg = "store unavailable: transaction conflict, retry"
		default:
			return err
		}
	case errors.As(err, &connErr), errors.As(err, &netErr), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		// The connection broke: the server restarted, or the network
		// between us did.
		msg = "store unavailable: cannot reach the database"
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", &eventagg.Error{Code: eventagg.EUNAVAILABLE, Message: msg}, err)
}
