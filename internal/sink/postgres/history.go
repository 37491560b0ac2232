package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

var _ sink.HistoryDialect = dialect{}

func (d dialect) LookupOptions() string {
	return `SELECT coalesce(history_table, ''), soft_deletes FROM ` + d.ident("syncd_types") + ` WHERE type = $1`
}

func (d dialect) SetHistoryTable() string {
	return `UPDATE ` + d.ident("syncd_types") + ` SET history_table = $2 WHERE type = $1`
}

func (d dialect) SetSoftDeletes() string {
	return `UPDATE ` + d.ident("syncd_types") + ` SET soft_deletes = $2 WHERE type = $1`
}

func (d dialect) HistoryTables() string {
	return `SELECT history_table FROM ` + d.ident("syncd_types") + ` WHERE history_table IS NOT NULL ORDER BY history_table`
}

func (d dialect) SoftTables() string {
	return `SELECT table_name FROM ` + d.ident("syncd_types") + ` WHERE soft_deletes ORDER BY table_name`
}

// CreateHistoryTable: the index on synced_at serves history_retention.
func (d dialect) CreateHistoryTable(name string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			stream        text        NOT NULL,
			seq           bigint      NOT NULL,
			key           text        NOT NULL,
			operation     text        NOT NULL,
			value         jsonb,
			old_value     jsonb,
			txid          text,
			event_time    timestamptz,
			synced_offset text        NOT NULL,
			synced_at     timestamptz NOT NULL DEFAULT statement_timestamp(),
			PRIMARY KEY (stream, seq)
		);
		CREATE INDEX IF NOT EXISTS %s ON %s (synced_at)`, d.ident(name), quoteIdent(syncedIndex(name)), d.ident(name))
}

// syncedIndex is the name of a history table's index on synced_at (see
// streamIndex for why it is a hash).
func syncedIndex(table string) string {
	sum := sha256.Sum256([]byte(table))
	return "syncd_synced_" + hex.EncodeToString(sum[:8])
}

func (d dialect) AddDeletedAt(name string) string {
	return `ALTER TABLE ` + d.ident(name) + ` ADD COLUMN IF NOT EXISTS deleted_at timestamptz`
}

func (d dialect) DropTombstones(name string) string {
	return `DELETE FROM ` + d.ident(name) + ` WHERE deleted_at IS NOT NULL`
}

func (d dialect) SoftResetRows(name string) string {
	return `UPDATE ` + d.ident(name) + ` SET deleted_at = $2, synced_at = $2 WHERE stream = $1 AND deleted_at IS NULL`
}

func (d dialect) DeleteHistory(name string) string {
	return `DELETE FROM ` + d.ident(name) + ` WHERE stream = $1`
}

func (d dialect) PruneHistory(name string) string {
	return `DELETE FROM ` + d.ident(name) + ` WHERE ctid = ANY (ARRAY(
		SELECT ctid FROM ` + d.ident(name) + ` WHERE synced_at < $1 LIMIT $2))`
}

func (d dialect) TimeArg(t time.Time) any { return t }

// insertHistory appends history rows from arrays; args: stream, then the
// columns of historyArgs.
const insertHistory = `INSERT INTO %s (stream, seq, key, operation, value, old_value, txid, event_time, synced_offset, synced_at)
	SELECT $1, h.seq, h.key, h.operation, h.value::jsonb, h.old_value::jsonb, h.txid, h.event_time, h.synced_offset, statement_timestamp()
	FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[])
		AS h(seq, key, operation, value, old_value, txid, event_time, synced_offset)`

// historyArgs are the column arrays of insertHistory.
type historyArgs struct {
	seqs                     []int64
	keys, ops, offsets       []string
	values, oldValues, txids []pgtype.Text
	times                    []pgtype.Timestamptz
}

func (a *historyArgs) add(h *state.HistoryRow) {
	a.seqs = append(a.seqs, h.Seq)
	a.keys = append(a.keys, h.Key)
	a.ops = append(a.ops, h.Op.String())
	a.values = append(a.values, jsonText(h.Value))
	a.oldValues = append(a.oldValues, jsonText(h.OldValue))
	a.txids = append(a.txids, pgtype.Text{String: h.TxID, Valid: h.TxID != ""})
	a.times = append(a.times, eventTime(h.Timestamp))
	a.offsets = append(a.offsets, h.Offset)
}

// jsonText is raw JSON as a text argument, NULL when absent.
func jsonText(raw []byte) pgtype.Text {
	return pgtype.Text{String: string(raw), Valid: raw != nil}
}

// WriteHistory (sink.BatchWriter) appends the batch's history rows, type by type in the order
// of their first event, to the history table of each type that keeps one.
func (t *tx) WriteHistory(ctx context.Context, rows []state.HistoryRow) error {
	if len(rows) == 0 {
		return nil
	}
	var order []string
	byType := map[string][]int{}
	for i := range rows {
		typ := rows[i].Type
		if byType[typ] == nil {
			order = append(order, typ)
		}
		byType[typ] = append(byType[typ], i)
	}
	for _, typ := range order {
		tbl, err := t.s.table(ctx, typ)
		if err != nil {
			return err
		}
		if tbl.History == "" {
			continue
		}
		if idx := byType[typ]; len(idx) >= copyThreshold {
			err = t.copyHistory(ctx, tbl.History, rows, idx)
		} else {
			var a historyArgs
			for _, i := range idx {
				a.add(&rows[i])
			}
			_, err = t.tx.Exec(ctx, fmt.Sprintf(insertHistory, t.s.internal(tbl.History)), t.stream,
				a.seqs, a.keys, a.ops, a.values, a.oldValues, a.txids, a.times, a.offsets)
		}
		if err != nil {
			return fmt.Errorf("insert into %s: %w", tbl.History, err)
		}
	}
	return nil
}

// historyCopyColumns are the columns COPY fills; synced_at takes its
// default, the COPY statement's timestamp.
var historyCopyColumns = []string{"stream", "seq", "key", "operation", "value", "old_value", "txid", "event_time", "synced_offset"}

// copyHistory appends the rows at idx with COPY straight into the history
// table (append-only: no staging needed). It streams them from the batch,
// so a large batch is not copied into one statement of arrays.
func (t *tx) copyHistory(ctx context.Context, name string, rows []state.HistoryRow, idx []int) error {
	src := pgx.CopyFromSlice(len(idx), func(i int) ([]any, error) {
		h := &rows[idx[i]]
		return []any{t.stream, h.Seq, h.Key, h.Op.String(), rawJSON(h.Value), rawJSON(h.OldValue),
			pgtype.Text{String: h.TxID, Valid: h.TxID != ""}, eventTime(h.Timestamp), h.Offset}, nil
	})
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{t.s.schema, name}, historyCopyColumns, src)
	return err
}

// rawJSON is raw JSON for a jsonb column, nil (NULL) when absent.
func rawJSON(raw []byte) any {
	if raw == nil {
		return nil
	}
	return raw
}

// PruneHistory deletes history rows older than their type's
// history_retention, in small transactions (sink.HistoryPruner).
func (s *Sink) PruneHistory(ctx context.Context, now time.Time) (int64, error) {
	return s.flow.PruneHistory(ctx, now)
}
