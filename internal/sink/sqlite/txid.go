package sqlite

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

// PruneTxIDs deletes the txids committed before cutoff. Stored times are
// fixed-width UTC text, so they compare as the times do.
func (s *Sink) PruneTxIDs(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.withWriteTx(ctx, func(conn *sql.Conn) error {
		res, err := conn.ExecContext(ctx, `DELETE FROM syncd_txids WHERE committed_at < ?`, cutoff.UTC().Format(timeFormat))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune txids: %w", err)
	}
	return n, nil
}

// Describe lists the named entity table's columns (hidden ones included)
// and indexes.
func (s *Sink) Describe(ctx context.Context, table string) (sink.TableDescription, error) {
	var d sink.TableDescription
	var err error
	scanName := func(r *sql.Rows) (name string, err error) { err = r.Scan(&name); return name, err }
	d.Columns, err = sink.CollectRows(ctx, s.db, `SELECT name FROM pragma_table_xinfo(?, 'main') ORDER BY cid`, []any{table}, scanName)
	if err == nil {
		d.Indexes, err = sink.CollectRows(ctx, s.db, `SELECT name FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? ORDER BY name`, []any{table}, scanName)
	}
	if err != nil {
		return d, fmt.Errorf("describe table %s: %w", table, err)
	}
	return d, nil
}

// ColumnValues returns the named columns of every row of an entity table.
func (s *Sink) ColumnValues(ctx context.Context, table string, columns []string) ([]map[string]any, error) {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = quoteIdent(c)
	}
	q := `SELECT ` + strings.Join(quoted, ", ") + ` FROM main.` + quoteIdent(table) + ` ORDER BY stream, key`
	out, err := sink.CollectRows(ctx, s.db, q, nil, func(r *sql.Rows) (map[string]any, error) {
		vals := make([]any, len(columns))
		ptrs := make([]any, len(columns))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(columns))
		for i, c := range columns {
			m[c] = vals[i]
		}
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return out, nil
}

// scanTxID reads a row of (stream, txid, next_offset, committed_at).
func scanTxID(r *sql.Rows) (t sink.TxIDRow, err error) {
	var at string
	if err = r.Scan(&t.Stream, &t.TxID, &t.NextOffset, &at); err != nil {
		return t, err
	}
	t.CommittedAt, err = parseTime(at)
	return t, err
}
