package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/syncd-io/syncd/internal/sink"
)

// Configure registers and creates the table of every mapped type and brings
// its name, key scope, generated columns and indexes in line with the
// mapping, all in one write transaction: either every change applies or
// none does.
func (s *Sink) Configure(ctx context.Context, m sink.Mapping) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("configure tables: %w", err)
	}
	types := m.ConfigureOrder()
	tables := map[string]*table{}
	err := s.withWriteTx(ctx, func(conn *sql.Conn) error {
		for _, tm := range types {
			t, err := s.configureType(ctx, conn, tm)
			if err != nil {
				return err
			}
			tables[tm.Type] = t
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("configure tables in %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mapping = m
	for typ, t := range tables {
		s.types[typ] = t
	}
	return nil
}

// configureType applies one type's mapping and returns its table.
func (s *Sink) configureType(ctx context.Context, conn *sql.Conn, tm sink.TypeMapping) (*table, error) {
	log := s.logger.With("type", tm.Type)
	scope := tm.Scope()
	var name, have string
	err := conn.QueryRowContext(ctx, `SELECT table_name, key_scope FROM syncd_types WHERE type = ?`, tm.Type).Scan(&name, &have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if name, err = claimMapped(ctx, conn, tm); err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, createTable(name, scope)); err != nil {
			return nil, fmt.Errorf("type %q: create table %s: %w", tm.Type, name, err)
		}
		log.Info("created entity table", "table", name, "key_scope", scope)
	case err != nil:
		return nil, fmt.Errorf("type %q: %w", tm.Type, err)
	default:
		if tm.Table != "" && tm.Table != name {
			if err := renameTable(ctx, conn, tm.Type, name, tm.Table); err != nil {
				return nil, err
			}
			log.Info("renamed entity table", "from", name, "to", tm.Table)
			name = tm.Table
		}
		if err := ensureScope(ctx, conn, log, tm.Type, name, sink.KeyScope(have), scope); err != nil {
			return nil, err
		}
	}
	t := newTable(name, scope)
	if err := s.reconcileColumns(ctx, conn, tm, t); err != nil {
		return nil, err
	}
	t.nulls = newNullCounter(t, tm.Columns)
	return t, nil
}

// nameTaken reports whether name is registered to a type or names anything
// in the main database (SQLite names are case-insensitive).
func nameTaken(ctx context.Context, conn *sql.Conn, name string) (bool, error) {
	var taken bool
	err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM syncd_types WHERE table_name = ?)
		OR EXISTS (SELECT 1 FROM main.sqlite_master WHERE lower(name) = lower(?))`, name, name).Scan(&taken)
	return taken, err
}

// claimMapped registers a new mapped type under its explicit table name, or
// the first free default name, with the mapping's key scope.
func claimMapped(ctx context.Context, conn *sql.Conn, tm sink.TypeMapping) (string, error) {
	names := []string{tm.Table}
	if tm.Table == "" {
		names = sink.CandidateTableNames(tm.Type)
	}
	for _, name := range names {
		taken, err := nameTaken(ctx, conn, name)
		if err != nil {
			return "", fmt.Errorf("type %q: check table name %q: %w", tm.Type, name, err)
		}
		if taken {
			continue
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO syncd_types (type, table_name, key_scope) VALUES (?, ?, ?)`,
			tm.Type, name, string(tm.Scope())); err != nil {
			return "", fmt.Errorf("type %q: register table %s: %w", tm.Type, name, err)
		}
		return name, nil
	}
	if tm.Table != "" {
		return "", fmt.Errorf("type %q table: %q is already the table of another type, or a table (or index) syncd did not create", tm.Type, tm.Table)
	}
	return "", fmt.Errorf("type %q: every candidate table name is taken", tm.Type)
}

// renameTable gives a registered type the table name its mapping sets, in
// syncd_types and syncd_columns too. SQLite cannot rename an index: the
// stream index is dropped and created under its new name.
func renameTable(ctx context.Context, conn *sql.Conn, typ, from, to string) error {
	taken, err := nameTaken(ctx, conn, to)
	if err == nil && taken {
		err = fmt.Errorf("%q is already the table of another type, or a table (or index) syncd did not create", to)
	}
	if err != nil {
		return fmt.Errorf("type %q table: %w", typ, err)
	}
	stmts := []string{
		`DROP INDEX IF EXISTS main.` + quoteIdent(streamIndex(from)),
		`ALTER TABLE main.` + quoteIdent(from) + ` RENAME TO ` + quoteIdent(to),
		`CREATE INDEX IF NOT EXISTS main.` + quoteIdent(streamIndex(to)) + ` ON ` + quoteIdent(to) + ` (stream)`,
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("type %q table: rename %s to %s: %w", typ, from, to, err)
		}
	}
	for _, q := range []string{`UPDATE syncd_types SET table_name = ? WHERE table_name = ?`, `UPDATE syncd_columns SET table_name = ? WHERE table_name = ?`} {
		if _, err := conn.ExecContext(ctx, q, to, from); err != nil {
			return fmt.Errorf("type %q table: rename %s to %s: %w", typ, from, to, err)
		}
	}
	return nil
}

// ensureScope creates a registered type's table if it went missing, and
// rebuilds it with the other primary key when the mapping's key scope
// differs from the recorded one (SQLite cannot alter a primary key). Going
// from stream to global fails when two streams hold the same key. The
// rebuilt table has no mapped columns or indexes: reconcileColumns adds them
// back.
func ensureScope(ctx context.Context, conn *sql.Conn, log *slog.Logger, typ, name string, have, scope sink.KeyScope) error {
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("type %q: %w", typ, err)
	}
	var stmts []string
	switch {
	case !exists:
		log.Warn("entity table registered but missing; creating it", "table", name)
		stmts = []string{createTable(name, scope)}
	case have != scope:
		const tmp = "syncd_rebuild"
		cols := "key, value, stream, txid, event_time, synced_offset, synced_at"
		stmts = []string{
			`DROP TABLE IF EXISTS main.` + tmp,
			tableDDL(tmp, scope),
			`INSERT INTO main.` + tmp + ` (` + cols + `) SELECT ` + cols + ` FROM main.` + quoteIdent(name),
			`DROP TABLE main.` + quoteIdent(name),
			`ALTER TABLE main.` + tmp + ` RENAME TO ` + quoteIdent(name),
			`CREATE INDEX IF NOT EXISTS main.` + quoteIdent(streamIndex(name)) + ` ON ` + quoteIdent(name) + ` (stream)`,
		}
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("type %q key_scope %s: rebuild table %s: %w", typ, scope, name, err)
		}
	}
	if exists && have != scope {
		log.Info("changed key scope (table rebuilt)", "table", name, "from", have, "to", scope)
	}
	if have != scope {
		if _, err := conn.ExecContext(ctx, `UPDATE syncd_types SET key_scope = ? WHERE type = ?`, string(scope), typ); err != nil {
			return fmt.Errorf("type %q: record key_scope: %w", typ, err)
		}
	}
	return nil
}

// reconcileColumns compares the mapping's columns with the table's and
// applies the difference (sink.PlanColumns), logging each change.
func (s *Sink) reconcileColumns(ctx context.Context, conn *sql.Conn, tm sink.TypeMapping, t *table) error {
	want, err := wantedColumns(tm.Columns)
	if err != nil {
		return fmt.Errorf("type %q %w", tm.Type, err)
	}
	have, indexes, err := existingColumns(ctx, conn, t.name)
	if err != nil {
		return fmt.Errorf("type %q: read the columns of %s: %w", tm.Type, t.name, err)
	}
	plan, err := sink.PlanColumns(tm.Type, t.name, want, have, indexes)
	if err != nil {
		return err
	}
	ident := "main." + quoteIdent(t.name)
	log := s.logger.With("type", tm.Type, "table", t.name)
	for _, ix := range plan.DropIndexes {
		if _, err := conn.ExecContext(ctx, `DROP INDEX IF EXISTS main.`+quoteIdent(ix)); err != nil {
			return fmt.Errorf("type %q: drop index %s: %w", tm.Type, ix, err)
		}
		log.Info("dropped index", "index", ix)
	}
	for _, col := range plan.DropColumns {
		if _, err := conn.ExecContext(ctx, `ALTER TABLE `+ident+` DROP COLUMN `+quoteIdent(col)); err != nil {
			return fmt.Errorf("type %q column %q: drop: %w", tm.Type, col, err)
		}
		if _, err := conn.ExecContext(ctx, `DELETE FROM syncd_columns WHERE table_name = ? AND column_name = ?`, t.name, col); err != nil {
			return fmt.Errorf("type %q column %q: %w", tm.Type, col, err)
		}
		if !plan.Changed[col] {
			log.Info("dropped column", "column", col)
		}
	}
	for _, c := range plan.AddColumns {
		if _, err := conn.ExecContext(ctx, `ALTER TABLE `+ident+` ADD COLUMN `+quoteIdent(c.Name)+` `+c.Definition); err != nil {
			return fmt.Errorf("type %q column %q (%s at %s): add: %w", tm.Type, c.Name, c.Type, c.Path, err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO syncd_columns (table_name, column_name, path, column_type, definition)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name, column_name) DO UPDATE
			SET path = excluded.path, column_type = excluded.column_type, definition = excluded.definition`,
			t.name, c.Name, c.Path, string(c.Type), c.Definition); err != nil {
			return fmt.Errorf("type %q column %q: %w", tm.Type, c.Name, err)
		}
		if plan.Changed[c.Name] {
			log.Info("changed column (dropped and added again)", "column", c.Name, "column_type", c.Type, "path", c.Path)
		} else {
			log.Info("added column", "column", c.Name, "column_type", c.Type, "path", c.Path)
		}
	}
	for _, c := range plan.CreateIndexes {
		ix := sink.IndexName(t.name, c.Name)
		if _, err := conn.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS main.`+quoteIdent(ix)+` ON `+quoteIdent(t.name)+` (`+quoteIdent(c.Name)+`)`); err != nil {
			return fmt.Errorf("type %q column %q: create index %s: %w", tm.Type, c.Name, ix, err)
		}
		log.Info("created index", "index", ix, "column", c.Name)
	}
	return nil
}

// existingColumns returns the table's columns other than the base ones,
// with what syncd_columns recorded of them, and the names of its indexes.
func existingColumns(ctx context.Context, conn *sql.Conn, table string) ([]sink.ExistingColumn, []string, error) {
	rows, err := conn.QueryContext(ctx, `SELECT c.name, c.hidden IN (2, 3), coalesce(r.definition, '')
		FROM pragma_table_xinfo(?, 'main') AS c
		LEFT JOIN syncd_columns r ON r.table_name = ? AND r.column_name = c.name
		ORDER BY c.cid`, table, table)
	if err != nil {
		return nil, nil, err
	}
	var cols []sink.ExistingColumn
	for rows.Next() {
		var c sink.ExistingColumn
		if err := rows.Scan(&c.Name, &c.Generated, &c.Definition); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if !slices.Contains(sink.BaseColumns, c.Name) {
			cols = append(cols, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = conn.QueryContext(ctx, `SELECT name FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ?`, table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var indexes []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, nil, err
		}
		indexes = append(indexes, name)
	}
	return cols, indexes, rows.Err()
}
