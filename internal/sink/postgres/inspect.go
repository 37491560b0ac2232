package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/syncd-io/syncd/internal/sink"
)

// Types lists the registered entity types and their tables, ordered by type.
func (s *Sink) Types(ctx context.Context) ([]sink.TypeTable, error) {
	rows, err := s.pool.Query(ctx, `SELECT type, table_name, key_scope FROM `+
		pgx.Identifier{s.schema, "syncd_types"}.Sanitize()+` ORDER BY type`)
	if err != nil {
		return nil, fmt.Errorf("list types: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sink.TypeTable, error) {
		var t sink.TypeTable
		err := r.Scan(&t.Type, &t.Table, &t.KeyScope)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list types: %w", err)
	}
	return out, nil
}

// Rows returns every row of the named entity table, ordered by key.
func (s *Sink) Rows(ctx context.Context, table string) ([]sink.Row, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value::text, stream, txid, event_time, synced_offset, synced_at FROM `+
		pgx.Identifier{s.schema, table}.Sanitize()+` ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sink.Row, error) {
		var row sink.Row
		var value string
		var txid pgtype.Text
		var at pgtype.Timestamptz
		err := r.Scan(&row.Key, &value, &row.Stream, &txid, &at, &row.SyncedOffset, &row.SyncedAt)
		row.Value, row.TxID, row.EventTime = []byte(value), txid.String, at.Time
		return row, err
	})
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return out, nil
}

// TxIDs returns the stream's rows of syncd_txids, ordered by txid.
func (s *Sink) TxIDs(ctx context.Context, stream string) ([]sink.TxIDRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream, txid, next_offset, committed_at FROM `+
		pgx.Identifier{s.schema, "syncd_txids"}.Sanitize()+` WHERE stream = $1 ORDER BY txid`, stream)
	if err != nil {
		return nil, fmt.Errorf("list txids of %s: %w", stream, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sink.TxIDRow])
	if err != nil {
		return nil, fmt.Errorf("list txids of %s: %w", stream, err)
	}
	return out, nil
}
