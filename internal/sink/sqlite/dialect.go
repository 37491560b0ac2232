package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// dialect is the SQLite SQL of the shared flow (sink.Dialect). Entity tables
// live in the main database ("main." keeps a TEMP table of the same name
// out of the way); numbered parameters let one argument be used twice.
type dialect struct{ s *Sink }

var _ sink.Dialect = dialect{}

// ident returns the quoted name of a table or index in the main database.
func ident(name string) string { return "main." + quoteIdent(name) }

func (d dialect) Where() string { return d.s.path }

// ConfigureTx runs fn in one write transaction (BEGIN IMMEDIATE): SQLite has
// one writer, so other processes wait for it.
func (d dialect) ConfigureTx(ctx context.Context, fn func(sink.Execer) error) error {
	return d.s.withWriteTx(ctx, func(conn *sql.Conn) error { return fn(sink.SQLExecer(conn)) })
}

func (dialect) LookupType() string {
	return `SELECT table_name, key_scope FROM syncd_types WHERE type = ?1`
}

// NameTaken: SQLite names are case-insensitive, whatever the object.
func (dialect) NameTaken() string {
	return `SELECT EXISTS (SELECT 1 FROM syncd_types WHERE table_name = ?1)
		OR EXISTS (SELECT 1 FROM main.sqlite_master WHERE lower(name) = lower(?1))`
}

func (dialect) RegisterType() string {
	return `INSERT INTO syncd_types (type, table_name, key_scope) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING`
}

func (dialect) SetKeyScope() string { return `UPDATE syncd_types SET key_scope = ?2 WHERE type = ?1` }

func (dialect) RenameRecords() []string {
	return []string{
		`UPDATE syncd_types SET table_name = ?2 WHERE table_name = ?1`,
		`UPDATE syncd_columns SET table_name = ?2 WHERE table_name = ?1`,
	}
}

func (dialect) TableExists() string {
	return `SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?1)`
}

func (dialect) EntityTables() string { return `SELECT table_name FROM syncd_types ORDER BY table_name` }

// CreateTable returns the DDL of an entity table and its stream index.
func (dialect) CreateTable(name string, scope table.KeyScope) string {
	return tableDDL(name, scope) + `;
		CREATE INDEX IF NOT EXISTS ` + ident(streamIndex(name)) + ` ON ` + quoteIdent(name) + ` (stream)`
}

// streamIndex is the name of an entity table's index on stream: syncd_stream_
// + a hash of the table name (entity tables never take syncd_ names).
func streamIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_stream_" + hex.EncodeToString(sum[:8])
}

// tableDDL creates an entity table without its index.
func tableDDL(name string, scope table.KeyScope) string {
	pk := "key"
	if scope == table.ScopeStream {
		pk = "stream, key"
	}
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			key           TEXT NOT NULL,
			value         TEXT NOT NULL,
			stream        TEXT NOT NULL,
			txid          TEXT,
			event_time    TEXT,
			synced_offset TEXT NOT NULL,
			synced_at     TEXT NOT NULL,
			PRIMARY KEY (%s)
		)`, ident(name), pk)
}

// RenameTable: SQLite cannot rename an index, so the stream index is dropped
// and created under its new name.
func (dialect) RenameTable(from, to string) []string {
	return []string{
		`DROP INDEX IF EXISTS ` + ident(streamIndex(from)),
		`ALTER TABLE ` + ident(from) + ` RENAME TO ` + quoteIdent(to),
		`CREATE INDEX IF NOT EXISTS ` + ident(streamIndex(to)) + ` ON ` + quoteIdent(to) + ` (stream)`,
	}
}

// ChangeKeyScope rebuilds the table with the other primary key (SQLite
// cannot alter a primary key). The rebuilt table has no mapped columns or
// indexes: the flow adds them back.
func (dialect) ChangeKeyScope(ctx context.Context, ex sink.Execer, name string, scope table.KeyScope) error {
	const tmp = "syncd_rebuild"
	cols := "key, value, stream, txid, event_time, synced_offset, synced_at"
	ddl := tableDDL(tmp, scope)
	var soft bool
	q := `SELECT EXISTS (SELECT 1 FROM pragma_table_xinfo(?1, 'main') WHERE name = 'deleted_at')`
	if err := ex.Query(ctx, q, []any{name}, func(scan func(...any) error) error { return scan(&soft) }); err != nil {
		return fmt.Errorf("read the columns of %s: %w", name, err)
	}
	if soft { // tombstones stay tombstones
		cols += ", deleted_at"
		ddl += `; ALTER TABLE main.` + tmp + ` ADD COLUMN deleted_at TEXT`
	}
	stmts := []string{
		`DROP TABLE IF EXISTS main.` + tmp,
		ddl,
		`INSERT INTO main.` + tmp + ` (` + cols + `) SELECT ` + cols + ` FROM ` + ident(name),
		`DROP TABLE ` + ident(name),
		`ALTER TABLE main.` + tmp + ` RENAME TO ` + quoteIdent(name),
		`CREATE INDEX IF NOT EXISTS ` + ident(streamIndex(name)) + ` ON ` + quoteIdent(name) + ` (stream)`,
	}
	for _, q := range stmts {
		if _, err := ex.Exec(ctx, q); err != nil {
			return fmt.Errorf("rebuild table %s for key scope %s: %w", name, scope, err)
		}
	}
	return nil
}

func (dialect) ResetRows(name string) string {
	return `DELETE FROM ` + ident(name) + ` WHERE stream = ?1`
}

func (dialect) ExistingColumns() string {
	return `SELECT c.name, c.hidden IN (2, 3), coalesce(r.definition, '')
		FROM pragma_table_xinfo(?1, 'main') AS c
		LEFT JOIN syncd_columns r ON r.table_name = ?1 AND r.column_name = c.name
		ORDER BY c.cid`
}

func (dialect) Indexes() string {
	return `SELECT name FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ?1`
}

func (dialect) AddColumn(name string, c table.WantedColumn) string {
	return `ALTER TABLE ` + ident(name) + ` ADD COLUMN ` + quoteIdent(c.Name) + ` ` + c.Definition
}

func (dialect) DropColumn(name, column string) string {
	return `ALTER TABLE ` + ident(name) + ` DROP COLUMN ` + quoteIdent(column)
}

func (dialect) CreateIndex(name string, c table.WantedColumn) string {
	return `CREATE INDEX IF NOT EXISTS ` + ident(table.IndexName(name, c.Name)) + ` ON ` + quoteIdent(name) + ` (` + quoteIdent(c.Name) + `)`
}

func (dialect) DropIndex(index string) string { return `DROP INDEX IF EXISTS ` + ident(index) }

func (dialect) RecordColumn() string {
	return `INSERT INTO syncd_columns (table_name, column_name, path, column_type, definition)
		VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (table_name, column_name) DO UPDATE
		SET path = excluded.path, column_type = excluded.column_type, definition = excluded.definition`
}

func (dialect) ForgetColumn() string {
	return `DELETE FROM syncd_columns WHERE table_name = ?1 AND column_name = ?2`
}
