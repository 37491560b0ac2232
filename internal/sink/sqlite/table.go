package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/syncd-io/syncd/internal/sink"
)

// table is an entity table with the statements that move staged rows into it.
type table struct {
	name   string // unquoted, as recorded in syncd_types
	upsert string // args: stream, synced_at, type
	delete string // args: type
}

func newTable(name string) *table {
	ident := "main." + quoteIdent(name)
	return &table{
		name: name,
		// WHERE is required before ON CONFLICT in INSERT … SELECT (SQLite's
		// parsing rule); rows go in key order.
		upsert: fmt.Sprintf(`INSERT INTO %s (key, value, stream, txid, event_time, synced_offset, synced_at)
			SELECT key, value, ?, txid, event_time, synced_offset, ? FROM temp.syncd_stage
			WHERE type = ? AND NOT del ORDER BY key
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, stream = excluded.stream,
				txid = excluded.txid, event_time = excluded.event_time,
				synced_offset = excluded.synced_offset, synced_at = excluded.synced_at`, ident),
		delete: fmt.Sprintf(`DELETE FROM %s WHERE key IN (SELECT key FROM temp.syncd_stage WHERE type = ? AND del)`, ident),
	}
}

// createTable returns the DDL of an entity table and its stream index, named
// syncd_stream_ + a hash of the table name (entity tables never take syncd_
// names).
func createTable(name string) string {
	sum := sha256.Sum256([]byte(name))
	index := quoteIdent("syncd_stream_" + hex.EncodeToString(sum[:8]))
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS main.%[1]s (
			key           TEXT NOT NULL PRIMARY KEY,
			value         TEXT NOT NULL,
			stream        TEXT NOT NULL,
			txid          TEXT,
			event_time    TEXT,
			synced_offset TEXT NOT NULL,
			synced_at     TEXT NOT NULL
		);
		CREATE INDEX IF NOT EXISTS main.%[2]s ON %[1]s (stream)`, quoteIdent(name), index)
}

// cached returns the committed table of typ, or nil.
func (s *Sink) cached(typ string) *table {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.types[typ]
}

// remember caches tables whose registration has committed.
func (s *Sink) remember(tables map[string]*table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for typ, t := range tables {
		s.types[typ] = t
	}
}

// resolveTable returns the table of typ inside the write transaction on conn,
// registering and creating it when no one has: SQLite has one writer, so the
// DDL rides in the data transaction and commits or rolls back with it.
// created says the table is new in this transaction (not yet cacheable).
func resolveTable(ctx context.Context, conn *sql.Conn, typ string) (t *table, created bool, err error) {
	var name string
	err = conn.QueryRowContext(ctx, `SELECT table_name FROM syncd_types WHERE type = ?`, typ).Scan(&name)
	switch {
	case err == nil:
		if _, err := conn.ExecContext(ctx, createTable(name)); err != nil { // a no-op unless dropped by hand
			return nil, false, fmt.Errorf("create table %s: %w", name, err)
		}
		return newTable(name), false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, fmt.Errorf("look up type %q: %w", typ, err)
	}
	for _, cand := range sink.CandidateTableNames(typ) {
		var taken bool
		// SQLite names are case-insensitive; candidates are lower-case.
		if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM syncd_types WHERE table_name = ?)
			OR EXISTS (SELECT 1 FROM main.sqlite_master WHERE lower(name) = ?)`, cand, cand).Scan(&taken); err != nil {
			return nil, false, fmt.Errorf("check table name %q: %w", cand, err)
		}
		if taken {
			continue
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO syncd_types (type, table_name) VALUES (?, ?)`, typ, cand); err != nil {
			return nil, false, fmt.Errorf("register type %q: %w", typ, err)
		}
		if _, err := conn.ExecContext(ctx, createTable(cand)); err != nil {
			return nil, false, fmt.Errorf("create table %s: %w", cand, err)
		}
		return newTable(cand), true, nil
	}
	return nil, false, fmt.Errorf("table for type %q: every candidate table name is taken", typ)
}
