package mysql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

var _ sink.HistoryDialect = dialect{}

func (dialect) LookupOptions() string {
	return `SELECT COALESCE(history_table, ''), soft_deletes FROM syncd_types WHERE type = ?`
}

func (dialect) SetHistoryTable() string {
	return `UPDATE syncd_types t JOIN (SELECT ? AS ty, ? AS h) a ON t.type = a.ty SET t.history_table = a.h`
}

func (dialect) SetSoftDeletes() string {
	return `UPDATE syncd_types t JOIN (SELECT ? AS ty, ? AS sd) a ON t.type = a.ty SET t.soft_deletes = a.sd`
}

func (dialect) HistoryTables() string {
	return `SELECT history_table FROM syncd_types WHERE history_table IS NOT NULL ORDER BY history_table`
}

func (dialect) SoftTables() string {
	return `SELECT table_name FROM syncd_types WHERE soft_deletes ORDER BY table_name`
}

// CreateHistoryTable returns the DDL of a history table, with the index on
// synced_at that history_retention uses. Like every DDL on MySQL it
// commits at once, which is why the flow runs it in Configure, before any
// data transaction, and IF NOT EXISTS.
func (d dialect) CreateHistoryTable(name string) string {
	str := fmt.Sprintf("VARCHAR(%%d) CHARACTER SET utf8mb4 COLLATE %s NOT NULL", d.keyCollation())
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
		"  `stream`        %s,\n"+
		"  `seq`           BIGINT NOT NULL,\n"+
		"  `key`           %s,\n"+
		"  `operation`     VARCHAR(6) NOT NULL,\n"+
		"  `value`         %s,\n"+
		"  `old_value`     %s,\n"+
		"  `txid`          TEXT,\n"+
		"  `event_time`    DATETIME(6) NULL,\n"+
		"  `synced_offset` TEXT NOT NULL,\n"+
		"  `synced_at`     DATETIME(6) NOT NULL,\n"+
		"  PRIMARY KEY (`stream`, `seq`),\n"+
		"  INDEX %s (`synced_at`)\n"+
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		quoteIdent(name), fmt.Sprintf(str, maxStreamChars), fmt.Sprintf(str, maxKeyChars),
		d.nullableJSON("value"), d.nullableJSON("old_value"), quoteIdent(syncedIndex(name)))
}

// nullableJSON is jsonType for a column that may be NULL (an absent value).
func (d dialect) nullableJSON(col string) string {
	return strings.Replace(d.jsonType(col), "NOT NULL", "NULL", 1)
}

// syncedIndex is the name of a history table's index on synced_at.
func syncedIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_synced_" + hex.EncodeToString(sum[:8])
}

func (dialect) AddDeletedAt(name string) string {
	return `ALTER TABLE ` + quoteIdent(name) + ` ADD COLUMN ` + quoteIdent(table.DeletedAt) + ` DATETIME(6) NULL`
}

func (dialect) DropTombstones(name string) string {
	return `DELETE FROM ` + quoteIdent(name) + " WHERE `deleted_at` IS NOT NULL"
}

// SoftResetRows binds the stream and the time in a derived table, as
// placeholders cannot be used twice.
func (dialect) SoftResetRows(name string) string {
	return `UPDATE ` + quoteIdent(name) + ` t JOIN (SELECT ? AS s, CAST(? AS DATETIME(6)) AS at) a ON t.stream = a.s
		SET t.deleted_at = a.at, t.synced_at = a.at WHERE t.deleted_at IS NULL`
}

func (dialect) DeleteHistory(name string) string {
	return `DELETE FROM ` + quoteIdent(name) + ` WHERE stream = ?`
}

func (dialect) PruneHistory(name string) string {
	return `DELETE FROM ` + quoteIdent(name) + ` WHERE synced_at < ? ORDER BY synced_at LIMIT ?`
}

// TimeArg is a time as DATETIME(6) stores it: UTC, to the microsecond.
func (dialect) TimeArg(t time.Time) any { return t.UTC().Truncate(time.Microsecond) }

// softDeleteArgs is the number of placeholders of one row of softDelete.
const softDeleteArgs = 6

// softDeleteRows bounds the keys of one softDelete: its derived table is a
// UNION ALL of one SELECT per key, which the server parses and plans as
// many queries, so a statement stays far below the placeholder limit.
const softDeleteRows = 1000

// softDelete returns the UPDATE that marks the live rows of n deleted keys
// of tbl deleted at the commit time, with the delete's stream, txid,
// event_time and synced_offset. A delete that replaced a write of the key
// in the batch (its LastValue) also re-marks a tombstone with that value:
// the key was live in between. A missing row is left alone. The keys come
// in a derived table, compared in the key column's own collation.
func (t *tx) softDelete(tbl *entity, n int) string {
	coll := dialect{t.s}.keyCollation()
	var q strings.Builder
	q.WriteString("UPDATE " + quoteIdent(tbl.Name) + " t JOIN (")
	for i := range n {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString("SELECT CONVERT(? USING utf8mb4) COLLATE " + coll + " AS k, CONVERT(? USING utf8mb4) COLLATE " + coll +
			" AS s, CONVERT(? USING utf8mb4) AS txid, CAST(? AS DATETIME(6)) AS et, CONVERT(? USING utf8mb4) AS so, CONVERT(? USING utf8mb4) AS v")
	}
	q.WriteString(") u ON t.`key` = u.k")
	if tbl.Scope == table.ScopeStream {
		q.WriteString(" AND t.`stream` = u.s")
	}
	q.WriteString(" SET t.`deleted_at` = UTC_TIMESTAMP(6), t.`synced_at` = UTC_TIMESTAMP(6), t.`stream` = u.s, t.`txid` = u.txid," +
		" t.`event_time` = u.et, t.`synced_offset` = u.so, t.`value` = COALESCE(u.v, t.`value`)" +
		" WHERE t.`deleted_at` IS NULL OR u.v IS NOT NULL")
	return q.String()
}

// softDeletes marks the rows of the deletes (in key order) deleted, in
// statements of at most softDeleteRows keys within the packet limit.
func (t *tx) softDeletes(ctx context.Context, tbl *entity, dels []*state.Op) error {
	for len(dels) > 0 {
		n := min(t.s.chunk(dels, softDeleteArgs), softDeleteRows)
		args := make([]any, 0, n*softDeleteArgs)
		for _, op := range dels[:n] {
			var last any
			if op.LastValue != nil {
				last = string(op.LastValue)
			}
			args = append(args, op.Key, t.stream, nullIfEmpty(op.TxID), eventTime(op.Timestamp), op.Offset, last)
		}
		if _, err := t.tx.ExecContext(ctx, t.softDelete(tbl, n), args...); err != nil {
			return fmt.Errorf("mark deleted in %s: %w", tbl.Name, err)
		}
		dels = dels[n:]
	}
	return nil
}

// historyArgs is the number of placeholders of one history row.
const historyArgs = 9

// WriteHistory (sink.BatchWriter) appends the batch's history rows, type by type in the order
// of their first event, to the history table of each type that keeps one,
// with multi-row INSERTs (append-only: a row never exists already, as the
// rows commit with the checkpoint).
func (t *tx) WriteHistory(ctx context.Context, rows []state.HistoryRow) error {
	var order []string
	byType := map[string][]*state.HistoryRow{}
	for i := range rows {
		typ := rows[i].Type
		if byType[typ] == nil {
			order = append(order, typ)
		}
		byType[typ] = append(byType[typ], &rows[i])
	}
	for _, typ := range order {
		tbl, err := t.s.table(ctx, typ)
		if err != nil {
			return err
		}
		if tbl.History == "" {
			continue
		}
		if err := t.insertHistory(ctx, tbl.History, byType[typ]); err != nil {
			return fmt.Errorf("insert into %s: %w", tbl.History, err)
		}
	}
	return nil
}

// insertHistory inserts rows into the history table name.
func (t *tx) insertHistory(ctx context.Context, name string, rows []*state.HistoryRow) error {
	head := "INSERT INTO " + quoteIdent(name) +
		" (`stream`, `seq`, `key`, `operation`, `value`, `old_value`, `txid`, `event_time`, `synced_offset`, `synced_at`) VALUES "
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))"
	budget := t.s.packetBudget()
	for len(rows) > 0 {
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, min(len(rows), maxPlaceholders/historyArgs)*historyArgs)
		n, size := 0, 0
		for n < len(rows) && (n+1)*historyArgs <= maxPlaceholders {
			h := rows[n]
			size += 2*(len(t.stream)+len(h.Key)+len(h.Value)+len(h.OldValue)+len(h.TxID)+len(h.Offset)+len(h.Timestamp)) + 160
			if n > 0 && size > budget {
				break
			}
			if n > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
			args = append(args, t.stream, h.Seq, h.Key, h.Op.String(), rawOrNull(h.Value), rawOrNull(h.OldValue),
				nullIfEmpty(h.TxID), eventTime(h.Timestamp), h.Offset)
			n++
		}
		if _, err := t.tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// rawOrNull is raw JSON as text, NULL when absent.
func rawOrNull(raw []byte) any {
	if raw == nil {
		return nil
	}
	return string(raw)
}

// PruneHistory deletes history rows older than their type's
// history_retention, in small transactions (sink.HistoryPruner).
func (s *Sink) PruneHistory(ctx context.Context, now time.Time) (int64, error) {
	return s.flow.PruneHistory(ctx, now)
}
