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
	scope  sink.KeyScope
	upsert string       // args: stream, synced_at, type
	delete string       // args: see deleteArgs
	nulls  *nullCounter // nil unless mapped columns may fail to convert
}

// newTable builds the statements of an entity table whose primary key is
// (key), or (stream, key) in key scope stream.
func newTable(name string, scope sink.KeyScope) *table {
	ident := "main." + quoteIdent(name)
	pk, deleteWhere := "key", ""
	if scope == sink.ScopeStream {
		pk, deleteWhere = "stream, key", "stream = ? AND "
	}
	return &table{
		name:  name,
		scope: scope,
		// WHERE is required before ON CONFLICT in INSERT … SELECT (SQLite's
		// parsing rule); rows go in key order.
		upsert: fmt.Sprintf(`INSERT INTO %s (key, value, stream, txid, event_time, synced_offset, synced_at)
			SELECT key, value, ?, txid, event_time, synced_offset, ? FROM temp.syncd_stage
			WHERE type = ? AND NOT del ORDER BY key
			ON CONFLICT (%s) DO UPDATE SET value = excluded.value, stream = excluded.stream,
				txid = excluded.txid, event_time = excluded.event_time,
				synced_offset = excluded.synced_offset, synced_at = excluded.synced_at`, ident, pk),
		delete: fmt.Sprintf(`DELETE FROM %s WHERE %skey IN (SELECT key FROM temp.syncd_stage WHERE type = ? AND del)`, ident, deleteWhere),
	}
}

// deleteArgs are the arguments of t.delete.
func (t *table) deleteArgs(stream, typ string) []any {
	if t.scope == sink.ScopeStream {
		return []any{stream, typ}
	}
	return []any{typ}
}

// createTable returns the DDL of an entity table and its stream index, named
// syncd_stream_ + a hash of the table name (entity tables never take syncd_
// names).
func createTable(name string, scope sink.KeyScope) string {
	return tableDDL(name, scope) + fmt.Sprintf(`;
		CREATE INDEX IF NOT EXISTS main.%s ON %s (stream)`, quoteIdent(streamIndex(name)), quoteIdent(name))
}

// streamIndex is the name of an entity table's index on stream.
func streamIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_stream_" + hex.EncodeToString(sum[:8])
}

// tableDDL creates an entity table without its index.
func tableDDL(name string, scope sink.KeyScope) string {
	pk := "key"
	if scope == sink.ScopeStream {
		pk = "stream, key"
	}
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS main.%[1]s (
			key           TEXT NOT NULL,
			value         TEXT NOT NULL,
			stream        TEXT NOT NULL,
			txid          TEXT,
			event_time    TEXT,
			synced_offset TEXT NOT NULL,
			synced_at     TEXT NOT NULL,
			PRIMARY KEY (%[2]s)
		)`, quoteIdent(name), pk)
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
	var name, scope string
	err = conn.QueryRowContext(ctx, `SELECT table_name, key_scope FROM syncd_types WHERE type = ?`, typ).Scan(&name, &scope)
	switch {
	case err == nil:
		if _, err := conn.ExecContext(ctx, createTable(name, sink.KeyScope(scope))); err != nil { // a no-op unless dropped by hand
			return nil, false, fmt.Errorf("create table %s: %w", name, err)
		}
		return newTable(name, sink.KeyScope(scope)), false, nil
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
		if _, err := conn.ExecContext(ctx, createTable(cand, sink.ScopeGlobal)); err != nil {
			return nil, false, fmt.Errorf("create table %s: %w", cand, err)
		}
		return newTable(cand, sink.ScopeGlobal), true, nil
	}
	return nil, false, fmt.Errorf("table for type %q: every candidate table name is taken", typ)
}
