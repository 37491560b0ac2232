// Package mysql is the MySQL and MariaDB sink: syncd's internal tables and
// one table per entity type in the database the URL names. It supplies the
// SQL of the shared flow (sink.Dialect) and moves each stream's batches in
// transactions fenced by the checkpoint compare-and-set (sink.TxDriver),
// with the checkpoint row locked from Begin to Commit.
//
// MySQL commits DDL implicitly, so DDL never runs inside a data
// transaction: entity tables are registered and created (idempotently) on
// a connection of their own, before the rows that need them are written,
// and a crash in between leaves at most an empty, registered table.
package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// utc is the location of every stored time.
var utc = time.UTC

// defaultMaxConns bounds the pool: every stream holds a connection for its
// open transaction.
const defaultMaxConns = 32

// Sink writes to one MySQL or MariaDB database. It is safe for concurrent
// use by several stream loops.
type Sink struct {
	db     *sql.DB
	name   string // the database (schema) name
	server server
	logger *slog.Logger
	flow   *sink.Flow[stmts] // the entity tables
	noLoad atomic.Bool       // LOAD DATA LOCAL INFILE refused (or disabled): INSERT only
}

var (
	_ sink.Sink          = (*Sink)(nil)
	_ sink.Inspector     = (*Sink)(nil)
	_ sink.ChangeChecker = (*Sink)(nil)
	_ sink.TablePreparer = (*Sink)(nil)
)

// server is what the sink learned of the server when it connected.
type server struct {
	mariaDB   bool
	version   string // as SELECT VERSION() says
	rowAlias  bool   // INSERT … AS new ON DUPLICATE KEY UPDATE (MySQL 8.0.19+)
	maxPacket int    // max_allowed_packet in bytes
}

// New connects to the database of a mysql:// or mariadb:// URL (see
// ParseURL). It does not create anything: call Migrate first.
func New(ctx context.Context, databaseURL string, logger *slog.Logger) (*Sink, error) {
	cfg, err := ParseURL(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse mysql url: %w", err)
	}
	return Open(ctx, cfg, logger)
}

// Open connects with a driver configuration (ParseURL's, or a test's).
func Open(ctx context.Context, cfg *driver.Config, logger *slog.Logger) (*Sink, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(defaultMaxConns)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Sink{db: db, name: cfg.DBName, logger: logger}
	if s.server, err = probe(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to mysql database %s at %s: %w", cfg.DBName, cfg.Addr, err)
	}
	d := dialect{s: s}
	s.flow = sink.NewFlow(d, d.prepare, logger)
	return s, nil
}

// probe reads the server's flavour, version and packet limit.
func probe(ctx context.Context, db *sql.DB) (server, error) {
	var sv server
	if err := db.QueryRowContext(ctx, `SELECT VERSION(), @@max_allowed_packet`).Scan(&sv.version, &sv.maxPacket); err != nil {
		return sv, err
	}
	sv.mariaDB = strings.Contains(strings.ToLower(sv.version), "mariadb")
	sv.rowAlias = !sv.mariaDB && versionAtLeast(sv.version, 8, 0, 19)
	return sv, nil
}

// versionAtLeast compares the leading x.y.z of a version string.
func versionAtLeast(v string, want ...int) bool {
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	for i, w := range want {
		if i >= len(parts) {
			return false
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}

// Configure registers and creates the table of every mapped type and brings
// its name, key scope, generated columns and indexes in line with the
// mapping, under the database's configure lock. MySQL commits each DDL
// statement on its own: a mapping that fails half-way leaves the changes
// made before the failure (each one complete), and the next Configure goes
// on from there.
func (s *Sink) Configure(ctx context.Context, m table.Mapping) error { return s.flow.Configure(ctx, m) }

// Leases returns the lease store on syncd_leases and syncd_replicas.
func (s *Sink) Leases() lease.Store { return leaseStore{s} }

// Capabilities: Begin holds the checkpoint row lock, and replicas share
// streams through leases. There is no notification channel.
func (s *Sink) Capabilities() sink.Capabilities {
	return sink.Capabilities{BeginLocks: true, Leases: true}
}

// DB returns the sink's database handle, for callers (status, tests) that
// query the entity tables directly.
func (s *Sink) DB() *sql.DB { return s.db }

// Server describes the server: its version string, as VERSION() gives it.
func (s *Sink) Server() string { return s.server.version }

// Ping checks that the database answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping mysql database %s: %w", s.name, err)
	}
	return nil
}

// Close closes the database's connections.
func (s *Sink) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close mysql database %s: %w", s.name, err)
	}
	return nil
}

// quoteIdent quotes a MySQL identifier: wrapped in backticks, inner
// backticks doubled.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// quoteLiteral quotes a string literal for both servers whatever the
// sql_mode: backslashes and quotes doubled.
func quoteLiteral(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// withTx runs f in a READ COMMITTED transaction on a connection of the
// pool and rolls back on every error path.
func (s *Sink) withTx(ctx context.Context, f func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
