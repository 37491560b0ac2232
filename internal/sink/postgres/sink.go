// Package postgres is the Postgres sink: it keeps syncd's internal tables and
// one table per entity type in one schema (SYNCD_SCHEMA), supplies the SQL of
// the shared flow (sink.Dialect) and moves each stream's batches in
// transactions fenced by the checkpoint compare-and-set (sink.TxDriver), with
// the checkpoint row locked from Begin to Commit.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// defaultMaxConns is the pool size when the database URL sets no
// pool_max_conns: every stream holds a connection for its open transaction,
// so pgxpool's default (the number of CPUs, at least 4) is easily too small.
const defaultMaxConns = 16

// Sink writes to one schema of a Postgres database. It is safe for concurrent
// use by several stream loops.
type Sink struct {
	pool   *pgxpool.Pool
	ddl    *pgxpool.Pool // one connection for creating entity tables, apart from the data transactions
	schema string
	q      queries
	logger *slog.Logger
	flow   *sink.Flow[stmts] // the entity tables
}

var (
	_ sink.Sink      = (*Sink)(nil)
	_ sink.Inspector = (*Sink)(nil)
)

// New connects to the database at databaseURL and returns a sink for schema.
// It does not create anything: call Migrate first. Every connection has
// search_path set to the schema, and every statement also names it.
func New(ctx context.Context, databaseURL, schema string, logger *slog.Logger) (*Sink, error) {
	if err := checkSchema(schema); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = quoteIdent(schema)
	cfg.ConnConfig.RuntimeParams["application_name"] = "syncd"

	ddlCfg := cfg.Copy()
	ddlCfg.MaxConns, ddlCfg.MinConns = 1, 0

	s := &Sink{schema: schema, q: newQueries(schema), logger: logger}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	if s.ddl, err = pgxpool.NewWithConfig(ctx, ddlCfg); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	d := dialect{schema: schema, ddl: s.ddl, lockID: s.lockID()}
	s.flow = sink.NewFlow(d, d.prepare, logger)
	return s, nil
}

// checkSchema rejects schema names Postgres cannot hold; any other name is
// used quoted, exactly as given.
func checkSchema(schema string) error {
	switch {
	case schema == "":
		return errors.New("postgres schema name is empty")
	case len(schema) > 63:
		return fmt.Errorf("postgres schema name %q is longer than 63 bytes", schema)
	case strings.ContainsRune(schema, 0):
		return fmt.Errorf("postgres schema name %q contains a NUL byte", schema)
	}
	return nil
}

// Configure registers and creates the table of every mapped type and brings
// its name, key scope, generated columns and indexes in line with the
// mapping, all in one transaction under the schema's migration lock: either
// every change applies or none does, and replicas starting together do it
// once.
func (s *Sink) Configure(ctx context.Context, m table.Mapping) error { return s.flow.Configure(ctx, m) }

// Leases returns the lease store on syncd_leases and syncd_replicas.
func (s *Sink) Leases() lease.Store { return leaseStore{s} }

// Capabilities: Begin holds the checkpoint row lock, commits notify on the
// "syncd" channel, and replicas share streams through leases.
func (s *Sink) Capabilities() sink.Capabilities {
	return sink.Capabilities{BeginLocks: true, Notify: true, Leases: true}
}

// quoteIdent quotes one identifier with pgx's quoting.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// Schema returns the schema that holds the sink's tables.
func (s *Sink) Schema() string { return s.schema }

// Pool returns the sink's connection pool, for callers (status, tests) that
// query the entity tables directly.
func (s *Sink) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close waits for connections in use to be released and closes them all.
func (s *Sink) Close() error {
	s.ddl.Close()
	s.pool.Close()
	return nil
}

// internal returns the quoted, schema-qualified name of an internal table.
func (s *Sink) internal(name string) string { return pgx.Identifier{s.schema, name}.Sanitize() }
