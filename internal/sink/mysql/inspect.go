package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
)

// LookupTxID returns the rows of syncd_txids holding txid, most recent first.
func (s *Sink) LookupTxID(ctx context.Context, txid string) ([]sink.TxIDRow, error) {
	q := `SELECT stream, txid, next_offset, committed_at FROM syncd_txids WHERE txid = ? ORDER BY committed_at DESC, stream`
	out, err := sink.CollectRows(ctx, s.db, q, []any{txid}, scanTxID)
	if err != nil {
		return nil, fmt.Errorf("look up txid %q: %w", txid, err)
	}
	return out, nil
}

// RejectedTxID returns the rejects whose message carried txid, most recent first.
func (s *Sink) RejectedTxID(ctx context.Context, txid string) ([]sink.RejectRow, error) {
	q := `SELECT id, stream, response_offset, position, raw, reason, created_at
		FROM syncd_rejects WHERE txid = ? ORDER BY id DESC`
	out, err := sink.CollectRows(ctx, s.db, q, []any{txid}, scanReject)
	if err != nil {
		return nil, fmt.Errorf("look up rejected txid %q: %w", txid, err)
	}
	return out, nil
}

// PruneTxIDs deletes the txids committed before cutoff.
func (s *Sink) PruneTxIDs(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM syncd_txids WHERE committed_at < ?`, cutoff.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune txids: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune txids: %w", err)
	}
	return n, nil
}

// TxIDs returns the stream's rows of syncd_txids, ordered by txid.
func (s *Sink) TxIDs(ctx context.Context, stream string) ([]sink.TxIDRow, error) {
	q := `SELECT stream, txid, next_offset, committed_at FROM syncd_txids WHERE stream = ? ORDER BY txid`
	out, err := sink.CollectRows(ctx, s.db, q, []any{stream}, scanTxID)
	if err != nil {
		return nil, fmt.Errorf("list txids of %s: %w", stream, err)
	}
	return out, nil
}

func scanTxID(r *sql.Rows) (t sink.TxIDRow, err error) {
	err = r.Scan(&t.Stream, &t.TxID, &t.NextOffset, &t.CommittedAt)
	return t, err
}

// Types lists the registered entity types and their tables, ordered by type.
func (s *Sink) Types(ctx context.Context) ([]sink.TypeTable, error) {
	out, err := sink.CollectRows(ctx, s.db, `SELECT type, table_name, key_scope FROM syncd_types ORDER BY type`, nil,
		func(r *sql.Rows) (t sink.TypeTable, err error) {
			err = r.Scan(&t.Type, &t.Table, &t.KeyScope)
			return t, err
		})
	if err != nil {
		return nil, fmt.Errorf("list types: %w", err)
	}
	return out, nil
}

// Rows returns every row of the named entity table, ordered by key.
func (s *Sink) Rows(ctx context.Context, table string) ([]sink.Row, error) {
	q := "SELECT `key`, `value`, `stream`, COALESCE(`txid`, ''), `event_time`, `synced_offset`, `synced_at` FROM " +
		quoteIdent(table) + " ORDER BY `key`"
	out, err := sink.CollectRows(ctx, s.db, q, nil, func(r *sql.Rows) (row sink.Row, err error) {
		var at sql.NullTime
		err = r.Scan(&row.Key, &row.Value, &row.Stream, &row.TxID, &at, &row.SyncedOffset, &row.SyncedAt)
		row.EventTime = at.Time
		return row, err
	})
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return out, nil
}

// Describe lists the named entity table's columns and indexes.
func (s *Sink) Describe(ctx context.Context, table string) (sink.TableDescription, error) {
	var d sink.TableDescription
	scanName := func(r *sql.Rows) (name string, err error) { err = r.Scan(&name); return name, err }
	var err error
	d.Columns, err = sink.CollectRows(ctx, s.db, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`, []any{table}, scanName)
	if err == nil {
		d.Indexes, err = sink.CollectRows(ctx, s.db, `SELECT DISTINCT index_name FROM information_schema.statistics
			WHERE table_schema = DATABASE() AND table_name = ? ORDER BY 1`, []any{table}, scanName)
	}
	if err != nil {
		return d, fmt.Errorf("describe table %s: %w", table, err)
	}
	return d, nil
}

// ColumnValues returns the named columns of every row of an entity table;
// text comes back as string, numbers as int64 or float64, times as
// time.Time.
func (s *Sink) ColumnValues(ctx context.Context, table string, columns []string) ([]map[string]any, error) {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = quoteIdent(c)
	}
	q := `SELECT ` + strings.Join(quoted, ", ") + ` FROM ` + quoteIdent(table) + " ORDER BY `stream`, `key`"
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read table %s: %w", table, err)
		}
		m := make(map[string]any, len(columns))
		for i, c := range columns {
			m[c] = scanned(vals[i], types[i].DatabaseTypeName())
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return out, nil
}

// scanned turns the bytes the text protocol returns into the column's Go
// value.
func scanned(v any, dbType string) any {
	b, ok := v.([]byte)
	if !ok {
		return v
	}
	switch dbType {
	case "BIGINT", "INT", "TINYINT", "SMALLINT", "MEDIUMINT":
		var n int64
		if _, err := fmt.Sscan(string(b), &n); err == nil {
			return n
		}
	case "DOUBLE", "FLOAT", "DECIMAL":
		var f float64
		if _, err := fmt.Sscan(string(b), &f); err == nil {
			return f
		}
	}
	return string(b)
}
