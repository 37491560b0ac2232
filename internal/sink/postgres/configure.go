package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
)

// Configure registers and creates the table of every mapped type and brings
// its name, key scope, generated columns and indexes in line with the
// mapping, all in one transaction under the schema's migration lock: either
// every change applies or none does, and replicas starting together do it
// once.
func (s *Sink) Configure(ctx context.Context, m sink.Mapping) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("configure tables: %w", err)
	}
	types := m.ConfigureOrder()
	tables := map[string]*table{}
	err := pgx.BeginFunc(ctx, s.ddl, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.lockID()); err != nil {
			return err
		}
		for _, tm := range types {
			t, err := s.configureType(ctx, tx, tm)
			if err != nil {
				return err
			}
			tables[tm.Type] = t
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("configure tables in schema %s: %w", s.schema, err)
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
func (s *Sink) configureType(ctx context.Context, tx pgx.Tx, tm sink.TypeMapping) (*table, error) {
	log := s.logger.With("type", tm.Type)
	name, err := s.registeredName(ctx, tx, tm.Type)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", tm.Type, err)
	}
	scope := tm.Scope()
	if name == "" {
		if name, err = s.claimMapped(ctx, tx, tm); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, createTable(s.newTable(name, scope))); err != nil {
			return nil, fmt.Errorf("type %q: create table %s: %w", tm.Type, name, err)
		}
		log.Info("created entity table", "table", name, "key_scope", scope)
	} else {
		if tm.Table != "" && tm.Table != name {
			if err := s.renameTable(ctx, tx, tm.Type, name, tm.Table); err != nil {
				return nil, err
			}
			log.Info("renamed entity table", "from", name, "to", tm.Table)
			name = tm.Table
		}
		if err := s.ensureScope(ctx, tx, tm.Type, name, scope); err != nil {
			return nil, err
		}
	}
	t := s.newTable(name, scope)
	if err := s.reconcileColumns(ctx, tx, tm, t); err != nil {
		return nil, err
	}
	t.nulls = newNullCounter(t, tm.Columns)
	return t, nil
}

// claimMapped registers a new mapped type under its explicit table name, or
// the first free default name, with the mapping's key scope.
func (s *Sink) claimMapped(ctx context.Context, tx pgx.Tx, tm sink.TypeMapping) (string, error) {
	name := tm.Table
	if name == "" {
		var err error
		if name, _, err = s.claimName(ctx, tx, tm.Type); err != nil {
			return "", fmt.Errorf("type %q: %w", tm.Type, err)
		}
	} else {
		if err := s.checkFree(ctx, tx, tm.Type, name); err != nil {
			return "", err
		}
		if _, err := tx.Exec(ctx, s.q.registerType, tm.Type, name); err != nil {
			return "", fmt.Errorf("type %q: register table %s: %w", tm.Type, name, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE `+s.internal("syncd_types")+` SET key_scope = $2 WHERE type = $1`, tm.Type, string(tm.Scope())); err != nil {
		return "", fmt.Errorf("type %q: record key_scope: %w", tm.Type, err)
	}
	return name, nil
}

// checkFree fails unless name is neither registered to a type nor the name
// of a relation in the schema.
func (s *Sink) checkFree(ctx context.Context, tx pgx.Tx, typ, name string) error {
	var taken bool
	if err := tx.QueryRow(ctx, s.q.tableTaken, name, pgx.Identifier{s.schema, name}.Sanitize()).Scan(&taken); err != nil {
		return fmt.Errorf("type %q table: check %q: %w", typ, name, err)
	}
	if taken {
		return fmt.Errorf("type %q table: %q is already the table of another type, or a table (or index) syncd did not create, in schema %s", typ, name, s.schema)
	}
	return nil
}

// renameTable gives a registered type the table name its mapping sets,
// with its stream index, in syncd_types and syncd_columns too.
func (s *Sink) renameTable(ctx context.Context, tx pgx.Tx, typ, from, to string) error {
	if err := s.checkFree(ctx, tx, typ, to); err != nil {
		return err
	}
	stmts := []string{
		`ALTER TABLE IF EXISTS ` + pgx.Identifier{s.schema, from}.Sanitize() + ` RENAME TO ` + quoteIdent(to),
		`ALTER INDEX IF EXISTS ` + pgx.Identifier{s.schema, streamIndex(from)}.Sanitize() + ` RENAME TO ` + quoteIdent(streamIndex(to)),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("type %q table: rename %s to %s: %w", typ, from, to, err)
		}
	}
	for _, t := range []string{"syncd_types", "syncd_columns"} {
		if _, err := tx.Exec(ctx, `UPDATE `+s.internal(t)+` SET table_name = $2 WHERE table_name = $1`, from, to); err != nil {
			return fmt.Errorf("type %q table: rename %s to %s: %w", typ, from, to, err)
		}
	}
	return nil
}

// streamIndex is the name of an entity table's index on stream (see createTable).
func streamIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_stream_" + hex.EncodeToString(sum[:8])
}

// ensureScope creates a registered type's table if it went missing, and
// changes its primary key when the mapping's key scope differs from the
// recorded one. Going from stream to global fails when two streams hold
// the same key.
func (s *Sink) ensureScope(ctx context.Context, tx pgx.Tx, typ, name string, scope sink.KeyScope) error {
	have, err := s.registeredScope(ctx, tx, typ)
	if err != nil {
		return err
	}
	t := s.newTable(name, scope)
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t.ident).Scan(&exists); err != nil {
		return fmt.Errorf("type %q: %w", typ, err)
	}
	if !exists {
		s.logger.Warn("entity table registered but missing; creating it", "type", typ, "table", name)
		if _, err := tx.Exec(ctx, createTable(t)); err != nil {
			return fmt.Errorf("type %q: create table %s: %w", typ, name, err)
		}
	} else if have != scope {
		var pkey string
		if err := tx.QueryRow(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, t.ident).Scan(&pkey); err != nil {
			return fmt.Errorf("type %q: find the primary key of %s: %w", typ, name, err)
		}
		cols := "key"
		if scope == sink.ScopeStream {
			cols = "stream, key"
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE `+t.ident+` DROP CONSTRAINT `+quoteIdent(pkey)+`, ADD PRIMARY KEY (`+cols+`)`); err != nil {
			return fmt.Errorf("type %q key_scope: change the primary key of %s to (%s): %w", typ, name, cols, err)
		}
		s.logger.Info("changed key scope", "type", typ, "table", name, "from", have, "to", scope)
	}
	if have != scope {
		if _, err := tx.Exec(ctx, `UPDATE `+s.internal("syncd_types")+` SET key_scope = $2 WHERE type = $1`, typ, string(scope)); err != nil {
			return fmt.Errorf("type %q: record key_scope: %w", typ, err)
		}
	}
	return nil
}

// registeredScope returns the key scope syncd_types holds for typ (global
// when the type is not registered).
func (s *Sink) registeredScope(ctx context.Context, tx pgx.Tx, typ string) (sink.KeyScope, error) {
	var scope string
	err := tx.QueryRow(ctx, `SELECT key_scope FROM `+s.internal("syncd_types")+` WHERE type = $1`, typ).Scan(&scope)
	if errors.Is(err, pgx.ErrNoRows) {
		return sink.ScopeGlobal, nil
	}
	if err != nil {
		return "", fmt.Errorf("look up key scope of %q: %w", typ, err)
	}
	return sink.KeyScope(scope), nil
}

// internal returns the quoted, schema-qualified name of an internal table.
func (s *Sink) internal(name string) string { return pgx.Identifier{s.schema, name}.Sanitize() }

// reconcileColumns compares the mapping's columns with the table's and
// applies the difference (sink.PlanColumns), logging each change.
func (s *Sink) reconcileColumns(ctx context.Context, tx pgx.Tx, tm sink.TypeMapping, t *table) error {
	want, err := s.wantedColumns(tm.Columns)
	if err != nil {
		return fmt.Errorf("type %q %w", tm.Type, err)
	}
	have, indexes, err := s.existingColumns(ctx, tx, t.name)
	if err != nil {
		return fmt.Errorf("type %q: read the columns of %s: %w", tm.Type, t.name, err)
	}
	plan, err := sink.PlanColumns(tm.Type, t.name, want, have, indexes)
	if err != nil {
		return err
	}
	log := s.logger.With("type", tm.Type, "table", t.name)
	for _, ix := range plan.DropIndexes {
		if _, err := tx.Exec(ctx, `DROP INDEX IF EXISTS `+pgx.Identifier{s.schema, ix}.Sanitize()); err != nil {
			return fmt.Errorf("type %q: drop index %s: %w", tm.Type, ix, err)
		}
		log.Info("dropped index", "index", ix)
	}
	for _, col := range plan.DropColumns {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+t.ident+` DROP COLUMN IF EXISTS `+quoteIdent(col)); err != nil {
			return fmt.Errorf("type %q column %q: drop: %w", tm.Type, col, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+s.internal("syncd_columns")+` WHERE table_name = $1 AND column_name = $2`, t.name, col); err != nil {
			return fmt.Errorf("type %q column %q: %w", tm.Type, col, err)
		}
		if !plan.Changed[col] {
			log.Info("dropped column", "column", col)
		}
	}
	for _, c := range plan.AddColumns {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+t.ident+` ADD COLUMN `+quoteIdent(c.Name)+` `+c.Definition); err != nil {
			return fmt.Errorf("type %q column %q (%s at %s): add: %w", tm.Type, c.Name, c.Type, c.Path, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.internal("syncd_columns")+` (table_name, column_name, path, column_type, definition)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (table_name, column_name) DO UPDATE
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
		method := ""
		if c.Type == sink.JSONB {
			method = " USING gin"
		}
		if _, err := tx.Exec(ctx, `CREATE INDEX IF NOT EXISTS `+quoteIdent(ix)+` ON `+t.ident+method+` (`+quoteIdent(c.Name)+`)`); err != nil {
			return fmt.Errorf("type %q column %q: create index %s: %w", tm.Type, c.Name, ix, err)
		}
		log.Info("created index", "index", ix, "column", c.Name)
	}
	return nil
}

// existingColumns returns the table's columns other than the base ones,
// with what syncd_columns recorded of them, and the names of its indexes.
func (s *Sink) existingColumns(ctx context.Context, tx pgx.Tx, table string) ([]sink.ExistingColumn, []string, error) {
	rows, err := tx.Query(ctx, `SELECT c.column_name, c.is_generated = 'ALWAYS', coalesce(r.definition, '')
		FROM information_schema.columns c
		LEFT JOIN `+s.internal("syncd_columns")+` r ON r.table_name = c.table_name AND r.column_name = c.column_name
		WHERE c.table_schema = $1 AND c.table_name = $2 AND c.column_name <> ALL($3)
		ORDER BY c.ordinal_position`, s.schema, table, sink.BaseColumns)
	if err != nil {
		return nil, nil, err
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sink.ExistingColumn, error) {
		var c sink.ExistingColumn
		err := r.Scan(&c.Name, &c.Generated, &c.Definition)
		return c, err
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = tx.Query(ctx, `SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`, s.schema, table)
	if err != nil {
		return nil, nil, err
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return cols, indexes, err
}

// deleteArgs are the arguments of t.delete.
func (t *table) deleteArgs(keys []string, stream string) []any {
	if t.scope == sink.ScopeStream {
		return []any{keys, stream}
	}
	return []any{keys}
}

// countNulls adds up, for the rows just upserted into tbl, the values its
// mapped columns could not convert. It costs one index lookup per row, and
// only for tables with such columns.
func (t *tx) countNulls(ctx context.Context, tbl *table, keys []string) error {
	if tbl.nulls == nil || len(keys) == 0 {
		return nil
	}
	args := []any{keys}
	if tbl.scope == sink.ScopeStream {
		args = append(args, t.stream)
	}
	counts := make([]int64, len(tbl.nulls.columns))
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := t.tx.QueryRow(ctx, tbl.nulls.query, args...).Scan(dest...); err != nil {
		return err
	}
	t.nulls.Add(tbl.name, tbl.nulls.columns, counts)
	return nil
}

// reportNulls hands the committed conversion counts to the mapping's hook.
func (t *tx) reportNulls() {
	if len(t.nulls) == 0 {
		return
	}
	t.s.mu.RLock()
	report := t.s.mapping.ConversionNulls
	t.s.mu.RUnlock()
	t.nulls.Report(report)
}
