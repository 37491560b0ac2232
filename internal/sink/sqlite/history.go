package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

var _ sink.HistoryDialect = dialect{}

func (dialect) LookupOptions() string {
	return `SELECT coalesce(history_table, ''), soft_deletes FROM syncd_types WHERE type = ?1`
}

func (dialect) SetHistoryTable() string {
	return `UPDATE syncd_types SET history_table = ?2 WHERE type = ?1`
}

func (dialect) SetSoftDeletes() string {
	return `UPDATE syncd_types SET soft_deletes = ?2 WHERE type = ?1`
}

func (dialect) HistoryTables() string {
	return `SELECT history_table FROM syncd_types WHERE history_table IS NOT NULL ORDER BY history_table`
}

func (dialect) SoftTables() string {
	return `SELECT table_name FROM syncd_types WHERE soft_deletes ORDER BY table_name`
}

// CreateHistoryTable: the index on synced_at serves history_retention.
func (dialect) CreateHistoryTable(name string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			stream        TEXT    NOT NULL,
			seq           INTEGER NOT NULL,
			key           TEXT    NOT NULL,
			operation     TEXT    NOT NULL,
			value         TEXT,
			old_value     TEXT,
			txid          TEXT,
			event_time    TEXT,
			synced_offset TEXT    NOT NULL,
			synced_at     TEXT    NOT NULL,
			PRIMARY KEY (stream, seq)
		);
		CREATE INDEX IF NOT EXISTS %s ON %s (synced_at)`, ident(name), ident(syncedIndex(name)), quoteIdent(name))
}

// syncedIndex is the name of a history table's index on synced_at.
func syncedIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_synced_" + hex.EncodeToString(sum[:8])
}

func (dialect) AddDeletedAt(name string) string {
	return `ALTER TABLE ` + ident(name) + ` ADD COLUMN deleted_at TEXT`
}

func (dialect) DropTombstones(name string) string {
	return `DELETE FROM ` + ident(name) + ` WHERE deleted_at IS NOT NULL`
}

func (dialect) SoftResetRows(name string) string {
	return `UPDATE ` + ident(name) + ` SET deleted_at = ?2, synced_at = ?2 WHERE stream = ?1 AND deleted_at IS NULL`
}

func (dialect) DeleteHistory(name string) string {
	return `DELETE FROM ` + ident(name) + ` WHERE stream = ?1`
}

func (dialect) PruneHistory(name string) string {
	return `DELETE FROM ` + ident(name) + ` WHERE rowid IN (SELECT rowid FROM ` + ident(name) + ` WHERE synced_at < ?1 LIMIT ?2)`
}

// TimeArg is the stored form of a time (timeFormat, UTC), which sorts as
// the time does.
func (dialect) TimeArg(t time.Time) any { return t.UTC().Format(timeFormat) }

// stageHistory is the statement that keeps every history row of the
// transaction for Commit, without its VALUES rows.
const stageHistory = `INSERT INTO temp.syncd_stage_history
	(seq, type, key, operation, value, old_value, txid, event_time, synced_offset) VALUES `

// stageHistoryRows stages the history rows, many to a statement.
func (t *tx) stageHistoryRows(ctx context.Context, rows []state.HistoryRow) error {
	err := t.insertRows(ctx, stageHistory, "", 9, len(rows), func(i int, args []any) []any {
		h := &rows[i]
		return append(args, h.Seq, h.Type, h.Key, h.Op.String(), rawOrNull(h.Value), rawOrNull(h.OldValue),
			nullIfEmpty(h.TxID), nullIfEmpty(h.Timestamp), h.Offset)
	})
	if err != nil {
		return fmt.Errorf("stage history: %w", err)
	}
	return nil
}

// rawOrNull is raw JSON as TEXT, NULL when absent.
func rawOrNull(raw []byte) any {
	if raw == nil {
		return nil
	}
	return string(raw)
}

// applyHistory appends the staged history rows, in seq order, to the
// history table of each type that keeps one.
func (t *tx) applyHistory(ctx context.Context, ts string, created map[string]*entity) error {
	for _, typ := range slices.Sorted(maps.Keys(t.historyTypes)) {
		tbl, err := t.tableOf(ctx, typ, created)
		if err != nil {
			return err
		}
		if tbl.History == "" {
			continue
		}
		if _, err := t.conn.ExecContext(ctx, `INSERT INTO `+ident(tbl.History)+`
			(stream, seq, key, operation, value, old_value, txid, event_time, synced_offset, synced_at)
			SELECT ?1, seq, key, operation, value, old_value, txid, event_time, synced_offset, ?2
			FROM temp.syncd_stage_history WHERE type = ?3 ORDER BY seq`, t.stream, ts, typ); err != nil {
			return fmt.Errorf("insert into %s: %w", tbl.History, err)
		}
	}
	return nil
}

// PruneHistory deletes history rows older than their type's
// history_retention, in small write transactions (sink.HistoryPruner).
func (s *Sink) PruneHistory(ctx context.Context, now time.Time) (int64, error) {
	return s.flow.PruneHistory(ctx, now)
}
