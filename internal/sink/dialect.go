package sink

import (
	"context"
	"database/sql"

	"github.com/syncd-io/syncd/internal/table"
)

// Execer runs statements inside one open database transaction: a pgx.Tx on
// Postgres, a *sql.Conn inside BEGIN … COMMIT on SQLite. Statements use the
// dialect's placeholders; the flow passes the arguments each Dialect method
// documents, in that order.
type Execer interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query calls row for every row of query with the function that scans it.
	Query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error
}

// Dialect is what a database adds to the shared flow: SQL strings (as
// goose's dialect querier does) and the transaction the flow runs in when it
// configures tables. Identifiers a method receives are validated names
// (table.CheckIdentifier, table.CandidateNames); the method quotes them.
// Each argument is passed once: a dialect whose placeholders cannot name an
// argument twice binds it in a derived table, e.g. FROM (SELECT ? AS name).
type Dialect interface {
	// Where names the database in errors: "schema x" or the file's path.
	Where() string

	// ConfigureTx runs fn in one transaction that may create and alter
	// entity tables, serialized with every other replica's ConfigureTx.
	ConfigureTx(ctx context.Context, fn func(Execer) error) error

	// LookupType selects table_name and key_scope of syncd_types; args: type.
	LookupType() string
	// NameTaken selects whether a name is registered to a type or names any
	// relation or index in the database; args: name.
	NameTaken() string
	// RegisterType inserts into syncd_types, or nothing when the type or the
	// name is already registered; args: type, table_name, key_scope.
	RegisterType() string
	// SetKeyScope updates syncd_types; args: type, key_scope.
	SetKeyScope() string
	// RenameRecords rename a table in syncd_types and syncd_columns; args: from, to.
	RenameRecords() []string
	// TableExists selects whether the entity table exists; args: name.
	TableExists() string
	// EntityTables selects the table_name of every registered type, sorted; no args.
	EntityTables() string

	// CreateTable creates an entity table and its stream index (IF NOT EXISTS).
	CreateTable(name string, scope table.KeyScope) string
	// RenameTable renames an entity table and its stream index.
	RenameTable(from, to string) []string
	// ChangeKeyScope changes the primary key of an entity table to the
	// scope's. The statements may leave the table without mapped columns
	// and indexes (SQLite rebuilds it); the flow adds them back.
	ChangeKeyScope(ctx context.Context, ex Execer, name string, scope table.KeyScope) error
	// ResetRows deletes a stream's rows from an entity table; args: stream.
	ResetRows(name string) string

	// WantedColumns returns the full definitions of a mapping's columns.
	WantedColumns(cols []table.Column) ([]table.WantedColumn, error)
	// ExistingColumns selects, for every column of an entity table, its
	// name, whether it is generated, and the definition syncd_columns
	// recorded ('' when none), in table order; args: table.
	ExistingColumns() string
	// Indexes selects the names of an entity table's indexes; args: table.
	Indexes() string
	// AddColumn, DropColumn, CreateIndex and DropIndex change an entity table.
	AddColumn(name string, c table.WantedColumn) string
	DropColumn(name, column string) string
	CreateIndex(name string, c table.WantedColumn) string
	DropIndex(index string) string
	// RecordColumn upserts into syncd_columns; args: table, column, path,
	// column_type, definition. ForgetColumn deletes from it; args: table, column.
	RecordColumn() string
	ForgetColumn() string

	// NullCount selects, for each of cols (mapped columns whose conversion
	// can fail), how many of the rows just written hold a non-null JSON value
	// at the column's path but NULL in the column. Its args are the
	// dialect's own (see TxDriver).
	NullCount(name string, scope table.KeyScope, cols []table.Column) string
}

// canBeNull reports whether a present, non-null JSON value may fail to
// convert to typ (and so be counted in Result.Nulls).
func canBeNull(typ table.ColumnType) bool {
	return typ != table.Text && typ != table.JSONB
}

// queryRow scans the first row of query into dest; found is false when
// there is none.
func queryRow(ctx context.Context, ex Execer, query string, args []any, dest ...any) (found bool, err error) {
	err = ex.Query(ctx, query, args, func(scan func(...any) error) error {
		if found {
			return nil
		}
		found = true
		return scan(dest...)
	})
	return found, err
}

// SQLQuerier is what database/sql's *sql.Conn and *sql.Tx share.
type SQLQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// SQLExecer runs the flow's statements through database/sql: a *sql.Conn
// inside BEGIN … COMMIT, or a *sql.Tx.
func SQLExecer(q SQLQuerier) Execer { return sqlExecer{q} }

type sqlExecer struct{ q SQLQuerier }

func (e sqlExecer) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := e.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (e sqlExecer) Query(ctx context.Context, query string, args []any, row func(scan func(...any) error) error) error {
	rows, err := e.q.QueryContext(ctx, query, args...)
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

// CollectRows runs a query on a database/sql handle and scans every row
// with scan, for the dialects that use database/sql.
func CollectRows[T any](ctx context.Context, db *sql.DB, q string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
