// Package sqlite is the embedded store: one SQLite file in WAL mode, written
// by one connection (SQLite allows one writer at a time anyway, so a pool
// would only queue on the file lock) and read by a pool of read-only
// connections that never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/eventagg/eventagg"
	"github.com/eventagg/eventagg/internal/store/namecache"
	sqlite3 "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"
)

// maxCachedTopics bounds the writer's topic cache: about 80 bytes a topic
// (name, id, last seq and the map's own share), so some 20 MiB at most;
// and its set of all names (allNames), some 12 MiB more.
const maxCachedTopics = 1 << 18

// topicEntry is what the writer remembers of a topic. It is only ever
// right because one connection writes: the writer fills it from the rows it
// reads and moves lastSeq only after its commit succeeds. Another process
// that writes the same file changes PRAGMA data_version, and the writer
// then forgets everything (see Store.checkDataVersion).
type topicEntry struct {
	id, lastSeq int64
	// The largest clock and timestamp stored: a clockless event's clock,
	// and what an event must reach to be in clock or time order (see
	// migration 005).
	maxClock, maxTs int64
}

// Store is the SQLite implementation of eventagg.Store.
type Store struct {
	path string
	w    *sql.DB // the one write connection
	r    *sql.DB // read-only pool

	stmts writeStmts

	writeMu     sync.Mutex                   // held by Append and merges: the caches are the writer's
	topics      *namecache.Cache[topicEntry] // names → id and last seq, for the writer
	keys        recentKeys                   // dedup keys not yet on disk
	levels      levels                       // the recent levels of names and seqs
	names       allNames                     // every topic name, up to a bound
	filter      keyFilter                    // which keys may be on disk
	dataVersion int64                        // PRAGMA data_version when the writer last looked

	mergeMu    sync.Mutex // held by a merge or compaction from start to end
	mergeWake  chan struct{}
	stopMerger context.CancelFunc
	mergerDone chan struct{}

	// Now returns the commit time stamped on events; tests replace it.
	Now func() time.Time
}

var _ eventagg.Store = (*Store)(nil)

// Options tune a Store; the zero value is the defaults.
type Options struct {
	// RecentKeys is how many dedup keys of the newest events are kept in
	// memory before they are merged into the permanent index (default
	// DefaultRecentKeys).
	RecentKeys int
	// LevelRows is how many rows the recent levels of topic names and
	// in-order events hold before they are merged (default
	// DefaultLevelRows).
	LevelRows int
	// names bounds the set of all topic names (allNames) in tests.
	names int
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date.

// synchronous is FULL. Only the power-loss test changes it, at link time
// (-ldflags "-X …/sqlite.synchronous=OFF"), to build a server whose
// acknowledgements do not rest on an fsync and check that the test sees
// the loss (TestPowerCutCatchesADurabilityBug).
var synchronous = "FULL"

func Open(ctx context.Context, path string) (*Store, error) {
	return OpenOptions(ctx, path, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.RecentKeys < 0 {
		return nil, fmt.Errorf("sqlite: recent keys %d: must not be negative", opts.RecentKeys)
	}
	if opts.LevelRows < 0 {
		return nil, fmt.Errorf("sqlite: level rows %d: must not be negative", opts.LevelRows)
	}
	if opts.RecentKeys == 0 {
		opts.RecentKeys = DefaultRecentKeys
	}
	if opts.LevelRows == 0 {
		opts.LevelRows = DefaultLevelRows
	}
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// With synchronous=FULL in WAL mode, SQLite fsyncs the WAL at every
	// commit: once Commit returns, the transaction survives a crash of the
	// process and a loss of power. Acknowledgements rest on this.
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Add("_pragma", "cache_size(-65536)") // 64 MiB of page cache for the indexes
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "wal_autocheckpoint(10000)")
	// Writes take the lock at BEGIN, so a transaction never fails half-way
	// with SQLITE_BUSY when it upgrades from reader to writer.
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{path: path, w: w, Now: time.Now, topics: namecache.New[topicEntry](maxCachedTopics),
		keys:   recentKeys{hot: make(map[dedupKey]keyVal, opts.RecentKeys), limit: opts.RecentKeys},
		levels: levels{limit: opts.LevelRows}, names: allNames{names: map[string]struct{}{}, bound: maxCachedTopics, stale: true}}
	if opts.names > 0 {
		s.names.bound = opts.names
	}
	if err := s.checkWAL(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, interpretError(fmt.Errorf("sqlite %s: %w", path, err))
	}
	if err := s.prepare(ctx); err != nil {
		w.Close()
		return nil, interpretError(fmt.Errorf("sqlite %s: %w", path, err))
	}
	if err := s.fillDigests(ctx); err != nil {
		w.Close()
		return nil, interpretError(fmt.Errorf("sqlite %s: %w", path, err))
	}
	if err := s.countLevels(ctx); err != nil {
		w.Close()
		return nil, interpretError(fmt.Errorf("sqlite %s: %w", path, err))
	}
	if err := s.loadKeys(ctx); err != nil {
		w.Close()
		return nil, interpretError(fmt.Errorf("sqlite %s: %w", path, err))
	}
	mctx, stop := context.WithCancel(context.Background())
	s.mergeWake, s.stopMerger, s.mergerDone = make(chan struct{}, 1), stop, make(chan struct{})
	go s.merger(mctx)

	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "query_only(1)")
	rq.Add("_pragma", "cache_size(-16384)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)*2))
	s.r = r
	return s, nil
}

// checkWAL reads journal_mode back: a pragma that did not take effect (a
// read-only directory, say) must fail loudly, since durability and
// concurrent reads both rest on WAL.
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return interpretError(fmt.Errorf("sqlite %s: open: %w", s.path, err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite %s: journal_mode is %q, want wal", s.path, mode)
	}
	var sync int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return interpretError(err)
	}
	if sync != 2 && synchronous == "FULL" {
		return fmt.Errorf("sqlite %s: synchronous is %d, want 2 (FULL)", s.path, sync)
	}
	return nil
}

// Ping checks that the file can still be read.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT 1 FROM counters WHERE id = 1").Scan(&n); err != nil {
		return interpretError(err)
	}
	return nil
}

// Close stops the merger and closes both pools. The WAL is checkpointed by
// SQLite when the last connection closes.
func (s *Store) Close() error {
	s.stopMerger()
	<-s.mergerDone
	return errors.Join(s.r.Close(), s.w.Close())
}

// String names the store for logs.
func (s *Store) String() string { return "sqlite:" + s.path }

// interpretError turns SQLite result codes (never message text) into domain
// errors: faults of the file or disk are "unavailable", so clients retry.
func interpretError(err error) error {
	var se *sqlite3.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	var msg string
	switch se.Code() & 0xff {
	case sqlitelib.SQLITE_FULL:
		msg = "store unavailable: disk full"
	case sqlitelib.SQLITE_BUSY, sqlitelib.SQLITE_LOCKED:
		msg = "store unavailable: database is locked"
	case sqlitelib.SQLITE_READONLY:
		msg = "store unavailable: database is read-only"
	case sqlitelib.SQLITE_IOERR, sqlitelib.SQLITE_CANTOPEN:
		msg = "store unavailable: I/O error"
	case sqlitelib.SQLITE_CORRUPT, sqlitelib.SQLITE_NOTADB:
		msg = "store unavailable: database file is corrupt"
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", &eventagg.Error{Code: eventagg.EUNAVAILABLE, Message: msg}, err)
}

// micros converts between time.Time and the µs integers stored on disk.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
