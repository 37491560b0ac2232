package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
)

// LookupTxID returns the rows of syncd_txids holding txid, most recent first.
func (s *Sink) LookupTxID(ctx context.Context, txid string) ([]sink.TxIDRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream, txid, next_offset, committed_at FROM `+s.internal("syncd_txids")+`
		WHERE txid = $1 ORDER BY committed_at DESC, stream`, txid)
	if err != nil {
		return nil, fmt.Errorf("look up txid %q: %w", txid, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sink.TxIDRow])
	if err != nil {
		return nil, fmt.Errorf("look up txid %q: %w", txid, err)
	}
	return out, nil
}

// RejectedTxID returns the rejects whose message carried txid, most recent first.
func (s *Sink) RejectedTxID(ctx context.Context, txid string) ([]sink.RejectRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, stream, response_offset, position, raw, reason, created_at FROM `+
		s.internal("syncd_rejects")+` WHERE txid = $1 ORDER BY id DESC`, txid)
	if err != nil {
		return nil, fmt.Errorf("look up rejected txid %q: %w", txid, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sink.RejectRow])
	if err != nil {
		return nil, fmt.Errorf("look up rejected txid %q: %w", txid, err)
	}
	return out, nil
}

// PruneTxIDs deletes the txids committed before cutoff.
func (s *Sink) PruneTxIDs(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+s.internal("syncd_txids")+` WHERE committed_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune txids: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Describe lists the named entity table's columns and indexes.
func (s *Sink) Describe(ctx context.Context, table string) (sink.TableDescription, error) {
	var d sink.TableDescription
	rows, err := s.pool.Query(ctx, `SELECT column_name::text FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, s.schema, table)
	if err == nil {
		d.Columns, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err == nil {
		rows, err = s.pool.Query(ctx, `SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1`, s.schema, table)
	}
	if err == nil {
		d.Indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
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
	rows, err := s.pool.Query(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM `+pgx.Identifier{s.schema, table}.Sanitize()+
		` ORDER BY stream COLLATE "C", key COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", table, err)
	}
	return out, nil
}
