package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/syncd-io/syncd/internal/sink"
)

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
	q := `SELECT key, value, stream, coalesce(txid, ''), coalesce(event_time, ''), synced_offset, synced_at FROM main.` +
		quoteIdent(table) + ` ORDER BY key`
	out, err := sink.CollectRows(ctx, s.db, q, nil, func(r *sql.Rows) (row sink.Row, err error) {
		var eventTime, syncedAt string
		if err = r.Scan(&row.Key, &row.Value, &row.Stream, &row.TxID, &eventTime, &row.SyncedOffset, &syncedAt); err != nil {
			return row, err
		}
		if eventTime != "" {
			if row.EventTime, err = parseTime(eventTime); err != nil {
				return row, err
			}
		}
		row.SyncedAt, err = parseTime(syncedAt)
		return row, err
	})
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return out, nil
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

// Rejects returns up to limit of the stream's dead letters, oldest first.
func (s *Sink) Rejects(ctx context.Context, stream string, limit int) ([]sink.RejectRow, error) {
	q := `SELECT id, stream, response_offset, position, raw, reason, created_at
		FROM syncd_rejects WHERE stream = ? ORDER BY id LIMIT ?`
	out, err := sink.CollectRows(ctx, s.db, q, []any{stream, limit}, scanReject)
	if err != nil {
		return nil, fmt.Errorf("list rejects of %s: %w", stream, err)
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

// scanReject reads a row of syncd_rejects.
func scanReject(r *sql.Rows) (x sink.RejectRow, err error) {
	var created string
	if err = r.Scan(&x.ID, &x.Stream, &x.ResponseOffset, &x.Position, &x.Raw, &x.Reason, &created); err != nil {
		return x, err
	}
	x.CreatedAt, err = parseTime(created)
	return x, err
}
