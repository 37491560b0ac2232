// Package sqlite is the SQLite sink: syncd's internal tables and one table
// per entity type in the main database of one file. It supplies the SQL of
// the shared flow (sink.Dialect) and the staging data path of a transaction
// (sink.TxDriver).
//
// SQLite has a single writer, so a stream's transaction does not hold the
// write lock while its stream is being read. Begin checks the checkpoint;
// Write stages the batch in TEMP tables of the transaction's own connection
// (the temp database takes no lock on the main one); Commit takes the write
// lock (BEGIN IMMEDIATE), re-checks the checkpoint with the compare-and-set
// UPDATE as its first statement, moves the staged rows into the entity
// tables, and commits. A long catch-up therefore blocks other streams only
// while its final move runs, which is what remains: that move is
// proportional to the rows staged. Writers in one process queue on a mutex;
// other processes wait through busy_timeout.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// busyTimeout is how long a statement waits for another process's write lock.
const busyTimeout = 30 * time.Second

// timeFormat is how times are stored: RFC 3339 in UTC with fixed-width
// microseconds, so that the text sorts as the time does.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

// Sink writes to one SQLite database file. It is safe for concurrent use by
// several stream loops.
type Sink struct {
	db     *sql.DB
	path   string
	logger *slog.Logger

	writeMu sync.Mutex        // held by whoever holds the write lock in this process
	flow    *sink.Flow[stmts] // the entity tables
}

var (
	_ sink.Sink      = (*Sink)(nil)
	_ sink.Inspector = (*Sink)(nil)
)

// New opens (creating if missing) the database file at path in WAL mode. It
// does not create tables: call Migrate first.
func New(ctx context.Context, path string, logger *slog.Logger) (*Sink, error) {
	if path == "" {
		return nil, errors.New("sqlite database path is empty")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxIdleConns(4)
	s := &Sink{db: db, path: path, logger: logger}
	d := dialect{s}
	s.flow = sink.NewFlow(d, d.prepare, logger)
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dsn is the URI that opens path with syncd's pragmas on every connection.
func dsn(path string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped +
		"?_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)" +
		// 2 MiB per connection, SQLite's default. The driver's allocator
		// puts each 4 KiB page in an 8 KiB slot, so the cache costs twice
		// its size in RSS: 16 MiB held a W1 catch-up's peak RSS ~27 MB
		// higher, and was no faster (BenchmarkWriteW1).
		"&_pragma=cache_size(-2000)" +
		// The TEMP staging tables (see tx.go) in 16 KiB pages: a large
		// batch spills them to the temp file and reads them back at
		// Commit, in a quarter of the pages and syscalls of 4 KiB ones
		// (BenchmarkWriteW1: 8 % fewer instructions). Only a new temp
		// database takes it, which is why it is set as the connection opens.
		"&_pragma=temp.page_size(16384)"
}

// Configure registers and creates the table of every mapped type and brings
// its name, key scope, generated columns and indexes in line with the
// mapping, all in one write transaction: either every change applies or
// none does.
func (s *Sink) Configure(ctx context.Context, m table.Mapping) error { return s.flow.Configure(ctx, m) }

// Leases returns nil: SQLite runs a single replica (see LockRunner).
func (s *Sink) Leases() lease.Store { return nil }

// Capabilities: none of the optional behaviours; Begin takes no lock.
func (s *Sink) Capabilities() sink.Capabilities { return sink.Capabilities{} }

// DB returns the sink's database handle, for callers (status, tests) that
// query the entity tables directly. Writing through it bypasses the sink's
// writer queue.
func (s *Sink) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite %s: %w", s.path, err)
	}
	return nil
}

// Close closes the database's connections.
func (s *Sink) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite %s: %w", s.path, err)
	}
	return nil
}

// now is the time stored in synced_at, updated_at and the like.
func now() string { return time.Now().UTC().Format(timeFormat) }

// quoteIdent quotes an SQLite identifier: wrapped in double quotes, inner
// double quotes doubled.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// writeTx runs f on conn inside BEGIN IMMEDIATE … COMMIT, holding the
// process's writer mutex, and rolls back on every error path (even when ctx
// is cancelled).
func (s *Sink) writeTx(ctx context.Context, conn *sql.Conn, f func() error) (err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin immediate: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := f(); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// withWriteTx is writeTx on a connection of its own.
func (s *Sink) withWriteTx(ctx context.Context, f func(conn *sql.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return s.writeTx(ctx, conn, func() error { return f(conn) })
}

// discard closes conn so that the pool drops it (and its TEMP tables and any
// open transaction) instead of reusing it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
