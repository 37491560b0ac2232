package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// dialect is the MySQL SQL of the shared flow (sink.Dialect). Placeholders
// are positional and cannot name an argument twice: statements that need
// one twice, or in another order, bind the arguments in a derived table.
type dialect struct{ s *Sink }

var (
	_ sink.Dialect      = dialect{}
	_ sink.IndexDropper = dialect{}
)

// Key and stream column sizes, in characters: a primary key (stream, key)
// of utf8mb4 (4 bytes a character) fits InnoDB's 3,072-byte index limit.
const (
	maxKeyChars    = 512
	maxStreamChars = 255
	maxTypeChars   = 768
	maxTxIDChars   = 512
)

// configureLockTimeout bounds the wait for another replica's configure.
const configureLockTimeout = 10 * time.Minute

func (d dialect) Where() string { return "database " + d.s.name }

// ConfigureTx runs fn on a connection of its own, holding the database's
// configure lock (GET_LOCK), so replicas configure one after the other.
// The DML runs in a transaction; each DDL statement commits implicitly.
func (d dialect) ConfigureTx(ctx context.Context, fn func(sink.Execer) error) error {
	return d.s.locked(ctx, "configure", func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return err
		}
		if err := fn(sink.SQLExecer(tx)); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// locked runs f on a connection holding the named lock of the database.
func (s *Sink) locked(ctx context.Context, what string, f func(*sql.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	name := lockName(s.name, what)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, name, int(configureLockTimeout.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("take lock %s: %w", name, err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("take lock %s: not granted within %s", name, configureLockTimeout)
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), `DO RELEASE_LOCK(?)`, name) }()
	return f(conn)
}

// lockName is the name of a user-level lock of database db: at most 64
// characters, whatever the database name.
func lockName(db, what string) string {
	sum := sha256.Sum256([]byte(db))
	return "syncd_" + what + "_" + hex.EncodeToString(sum[:12])
}

func (dialect) LookupType() string {
	return `SELECT table_name, key_scope FROM syncd_types WHERE type = ?`
}

// NameTaken: registered to a type, or the name of any table or view of the
// database (compared without regard to case, as some servers do).
func (dialect) NameTaken() string {
	return `SELECT EXISTS (SELECT 1 FROM syncd_types t WHERE t.table_name = a.n)
		OR EXISTS (SELECT 1 FROM information_schema.tables i
			WHERE i.table_schema = DATABASE() AND LOWER(i.table_name) = LOWER(CONVERT(a.n USING utf8mb4)))
		FROM (SELECT ? AS n) a`
}

// RegisterType inserts unless the type or the name is registered; replicas
// never race here (see Sink.table), so the check and insert are one step.
func (dialect) RegisterType() string {
	return `INSERT INTO syncd_types (type, table_name, key_scope)
		SELECT a.t, a.n, a.s FROM (SELECT ? AS t, ? AS n, ? AS s) a
		WHERE NOT EXISTS (SELECT 1 FROM syncd_types x WHERE x.type = a.t OR x.table_name = a.n)`
}

func (dialect) SetKeyScope() string {
	return `UPDATE syncd_types t JOIN (SELECT ? AS ty, ? AS ks) a ON t.type = a.ty SET t.key_scope = a.ks`
}

func (dialect) RenameRecords() []string {
	return []string{
		`UPDATE syncd_types t JOIN (SELECT ? AS f, ? AS n) a ON t.table_name = a.f SET t.table_name = a.n`,
		`UPDATE syncd_columns t JOIN (SELECT ? AS f, ? AS n) a ON t.table_name = a.f SET t.table_name = a.n`,
	}
}

func (dialect) TableExists() string {
	return `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?)`
}

func (dialect) EntityTables() string { return `SELECT table_name FROM syncd_types ORDER BY table_name` }

// keyCollation is the collation of key and stream: binary and NO PAD, so
// that keys differing in case or trailing spaces are different rows.
func (d dialect) keyCollation() string {
	if d.s.server.mariaDB {
		return "utf8mb4_nopad_bin"
	}
	return "utf8mb4_0900_bin"
}

// jsonType is the type of value: JSON on MySQL; on MariaDB, where JSON is
// an alias of LONGTEXT, LONGTEXT with a JSON_VALID check, spelled out.
func (d dialect) jsonType(col string) string {
	if d.s.server.mariaDB {
		return "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (JSON_VALID(" + quoteIdent(col) + "))"
	}
	return "JSON NOT NULL"
}

// CreateTable returns the DDL of an entity table with its stream index (see
// streamIndex). The primary key is its only unique index: MySQL's upsert
// fires on any unique key.
func (d dialect) CreateTable(name string, scope table.KeyScope) string {
	str := fmt.Sprintf("VARCHAR(%%d) CHARACTER SET utf8mb4 COLLATE %s NOT NULL", d.keyCollation())
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
		"  `key`           %s,\n"+
		"  `value`         %s,\n"+
		"  `stream`        %s,\n"+
		"  `txid`          TEXT,\n"+
		"  `event_time`    DATETIME(6) NULL,\n"+
		"  `synced_offset` TEXT NOT NULL,\n"+
		"  `synced_at`     DATETIME(6) NOT NULL,\n"+
		"  PRIMARY KEY (%s),\n"+
		"  INDEX %s (`stream`)\n"+
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		quoteIdent(name), fmt.Sprintf(str, maxKeyChars), d.jsonType("value"), fmt.Sprintf(str, maxStreamChars),
		primaryKey(scope), quoteIdent(streamIndex(name)))
}

// streamIndex is the name of an entity table's index on stream.
func streamIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_stream_" + hex.EncodeToString(sum[:8])
}

// primaryKey returns the primary key columns of a key scope.
func primaryKey(scope table.KeyScope) string {
	if scope == table.ScopeStream {
		return "`stream`, `key`"
	}
	return "`key`"
}

func (dialect) RenameTable(from, to string) []string {
	return []string{
		`RENAME TABLE ` + quoteIdent(from) + ` TO ` + quoteIdent(to),
		`ALTER TABLE ` + quoteIdent(to) + ` RENAME INDEX ` + quoteIdent(streamIndex(from)) + ` TO ` + quoteIdent(streamIndex(to)),
	}
}

// ChangeKeyScope swaps the primary key in place, in one ALTER TABLE: it
// fails as a whole when the new key has duplicates.
func (dialect) ChangeKeyScope(ctx context.Context, ex sink.Execer, name string, scope table.KeyScope) error {
	cols := primaryKey(scope)
	if _, err := ex.Exec(ctx, `ALTER TABLE `+quoteIdent(name)+` DROP PRIMARY KEY, ADD PRIMARY KEY (`+cols+`)`); err != nil {
		return fmt.Errorf("change the primary key of %s to (%s): %w", name, cols, err)
	}
	return nil
}

// ResetRows deletes (never truncates: TRUNCATE commits implicitly).
func (dialect) ResetRows(name string) string {
	return `DELETE FROM ` + quoteIdent(name) + ` WHERE stream = ?`
}

func (dialect) ExistingColumns() string {
	return `SELECT c.column_name, c.extra LIKE '%GENERATED%', COALESCE(r.definition, '')
		FROM (SELECT ? AS t) a
		JOIN information_schema.columns c ON c.table_schema = DATABASE() AND c.table_name = a.t
		LEFT JOIN syncd_columns r ON r.table_name = a.t
			AND r.column_name = CONVERT(c.column_name USING utf8mb4) COLLATE utf8mb4_bin
		ORDER BY c.ordinal_position`
}

func (dialect) Indexes() string {
	return `SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ?`
}

func (dialect) AddColumn(name string, c table.WantedColumn) string {
	return `ALTER TABLE ` + quoteIdent(name) + ` ADD COLUMN ` + quoteIdent(c.Name) + ` ` + c.Definition
}

func (dialect) DropColumn(name, column string) string {
	return `ALTER TABLE ` + quoteIdent(name) + ` DROP COLUMN ` + quoteIdent(column)
}

// CreateIndex indexes a mapped column; text and JSON columns by a prefix of
// their first 255 characters (see indexPart).
func (d dialect) CreateIndex(name string, c table.WantedColumn) string {
	return `CREATE INDEX ` + quoteIdent(table.IndexName(name, c.Name)) + ` ON ` + quoteIdent(name) + ` (` + d.indexPart(c.Column) + `)`
}

// DropIndex is not used: MySQL's DROP INDEX names the table (DropTableIndex).
func (dialect) DropIndex(index string) string { return `DROP INDEX ` + quoteIdent(index) }

// DropTableIndex drops an index of an entity table.
func (dialect) DropTableIndex(name, index string) string {
	return `DROP INDEX ` + quoteIdent(index) + ` ON ` + quoteIdent(name)
}

func (dialect) RecordColumn() string {
	return `INSERT INTO syncd_columns (table_name, column_name, path, column_type, definition)
		VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE
		path = VALUES(path), column_type = VALUES(column_type), definition = VALUES(definition)`
}

func (dialect) ForgetColumn() string {
	return `DELETE FROM syncd_columns WHERE table_name = ? AND column_name = ?`
}
