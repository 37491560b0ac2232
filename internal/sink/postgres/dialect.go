package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// dialect is the Postgres SQL of the shared flow (sink.Dialect), for one
// schema.
type dialect struct {
	schema string
	ddl    *pgxpool.Pool // one connection for creating entity tables, apart from the data transactions
	lockID int64         // the schema's migration lock
}

var _ sink.Dialect = dialect{}

// ident returns the quoted, schema-qualified name of a table or index.
func (d dialect) ident(name string) string { return pgx.Identifier{d.schema, name}.Sanitize() }

func (d dialect) Where() string { return "schema " + d.schema }

// ConfigureTx runs fn on the DDL connection under the schema's migration
// lock, so replicas starting together configure one after the other.
func (d dialect) ConfigureTx(ctx context.Context, fn func(sink.Execer) error) error {
	return pgx.BeginFunc(ctx, d.ddl, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, d.lockID); err != nil {
			return err
		}
		return fn(execer{tx})
	})
}

func (d dialect) LookupType() string {
	return `SELECT table_name, key_scope FROM ` + d.ident("syncd_types") + ` WHERE type = $1`
}

// NameTaken: registered to a type, or the name of a relation (table, index,
// view…) in the schema that syncd did not create.
func (d dialect) NameTaken() string {
	return `SELECT EXISTS (SELECT 1 FROM ` + d.ident("syncd_types") + ` WHERE table_name = $1)
		OR to_regclass(quote_ident(` + quoteLiteral(d.schema) + `) || '.' || quote_ident($1)) IS NOT NULL`
}

func (d dialect) RegisterType() string {
	return `INSERT INTO ` + d.ident("syncd_types") + ` (type, table_name, key_scope) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
}

func (d dialect) SetKeyScope() string {
	return `UPDATE ` + d.ident("syncd_types") + ` SET key_scope = $2 WHERE type = $1`
}

func (d dialect) RenameRecords() []string {
	return []string{
		`UPDATE ` + d.ident("syncd_types") + ` SET table_name = $2 WHERE table_name = $1`,
		`UPDATE ` + d.ident("syncd_columns") + ` SET table_name = $2 WHERE table_name = $1`,
	}
}

func (d dialect) TableExists() string {
	return `SELECT to_regclass(quote_ident(` + quoteLiteral(d.schema) + `) || '.' || quote_ident($1)) IS NOT NULL`
}

func (d dialect) EntityTables() string {
	return `SELECT table_name FROM ` + d.ident("syncd_types") + ` ORDER BY table_name`
}

// CreateTable returns the DDL of an entity table and its stream index (see
// streamIndex).
func (d dialect) CreateTable(name string, scope table.KeyScope) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			key           text        NOT NULL,
			value         jsonb       NOT NULL,
			stream        text        NOT NULL,
			txid          text,
			event_time    timestamptz,
			synced_offset text        NOT NULL,
			synced_at     timestamptz NOT NULL,
			PRIMARY KEY (%s)
		);
		CREATE INDEX IF NOT EXISTS %s ON %s (stream)`, d.ident(name), primaryKey(scope), quoteIdent(streamIndex(name)), d.ident(name))
}

// streamIndex is the name of an entity table's index on stream: syncd_stream_
// + a hash of the table name, since entity tables never take syncd_ names and
// Postgres would silently cut a longer derived name.
func streamIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_stream_" + hex.EncodeToString(sum[:8])
}

// primaryKey returns the primary key columns of a key scope.
func primaryKey(scope table.KeyScope) string {
	if scope == table.ScopeStream {
		return "stream, key"
	}
	return "key"
}

func (d dialect) RenameTable(from, to string) []string {
	return []string{
		`ALTER TABLE IF EXISTS ` + d.ident(from) + ` RENAME TO ` + quoteIdent(to),
		`ALTER INDEX IF EXISTS ` + d.ident(streamIndex(from)) + ` RENAME TO ` + quoteIdent(streamIndex(to)),
	}
}

// ChangeKeyScope swaps the primary key in place.
func (d dialect) ChangeKeyScope(ctx context.Context, ex sink.Execer, name string, scope table.KeyScope) error {
	var pkey string
	q := `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`
	err := ex.Query(ctx, q, []any{d.ident(name)}, func(scan func(...any) error) error { return scan(&pkey) })
	if err == nil && pkey == "" {
		err = errors.New("none")
	}
	if err != nil {
		return fmt.Errorf("find the primary key of %s: %w", name, err)
	}
	cols := primaryKey(scope)
	if _, err := ex.Exec(ctx, `ALTER TABLE `+d.ident(name)+` DROP CONSTRAINT `+quoteIdent(pkey)+`, ADD PRIMARY KEY (`+cols+`)`); err != nil {
		return fmt.Errorf("change the primary key of %s to (%s): %w", name, cols, err)
	}
	return nil
}

func (d dialect) ResetRows(name string) string {
	return `DELETE FROM ` + d.ident(name) + ` WHERE stream = $1`
}

func (d dialect) ExistingColumns() string {
	return `SELECT c.column_name::text, c.is_generated = 'ALWAYS', coalesce(r.definition, '')
		FROM information_schema.columns c
		LEFT JOIN ` + d.ident("syncd_columns") + ` r ON r.table_name = c.table_name AND r.column_name = c.column_name
		WHERE c.table_schema = ` + quoteLiteral(d.schema) + ` AND c.table_name = $1
		ORDER BY c.ordinal_position`
}

func (d dialect) Indexes() string {
	return `SELECT indexname::text FROM pg_indexes WHERE schemaname = ` + quoteLiteral(d.schema) + ` AND tablename = $1`
}

func (d dialect) AddColumn(name string, c table.WantedColumn) string {
	return `ALTER TABLE ` + d.ident(name) + ` ADD COLUMN ` + quoteIdent(c.Name) + ` ` + c.Definition
}

func (d dialect) DropColumn(name, column string) string {
	return `ALTER TABLE ` + d.ident(name) + ` DROP COLUMN IF EXISTS ` + quoteIdent(column)
}

// CreateIndex uses GIN for jsonb columns, so containment queries use it.
func (d dialect) CreateIndex(name string, c table.WantedColumn) string {
	method := ""
	if c.Type == table.JSONB {
		method = " USING gin"
	}
	return `CREATE INDEX IF NOT EXISTS ` + quoteIdent(table.IndexName(name, c.Name)) + ` ON ` + d.ident(name) + method + ` (` + quoteIdent(c.Name) + `)`
}

func (d dialect) DropIndex(index string) string { return `DROP INDEX IF EXISTS ` + d.ident(index) }

func (d dialect) RecordColumn() string {
	return `INSERT INTO ` + d.ident("syncd_columns") + ` (table_name, column_name, path, column_type, definition)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (table_name, column_name) DO UPDATE
		SET path = excluded.path, column_type = excluded.column_type, definition = excluded.definition`
}

func (d dialect) ForgetColumn() string {
	return `DELETE FROM ` + d.ident("syncd_columns") + ` WHERE table_name = $1 AND column_name = $2`
}

// execer runs the flow's statements in a pgx transaction.
type execer struct{ tx pgx.Tx }

func (e execer) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := e.tx.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (e execer) Query(ctx context.Context, query string, args []any, row func(scan func(...any) error) error) error {
	rows, err := e.tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
