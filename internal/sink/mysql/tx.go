package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// maxPlaceholders is the protocol's limit of placeholders in one statement.
const maxPlaceholders = 65_535

// tx is the MySQL half of one stream's open transaction (sink.TxDriver).
// It holds the stream's checkpoint row lock from Begin to Commit or Rollback.
type tx struct {
	s      *Sink
	stream string
	expect string // the offset Begin found
	tx     *sql.Tx
}

var _ sink.TxDriver = (*tx)(nil)

// Begin opens the stream's READ COMMITTED transaction with the checkpoint
// compare-and-set guard as its first statement (clientFoundRows makes the
// UPDATE that changes nothing count its row). It returns sink.ErrConflict
// when the stored offset is not expectedOffset (or the checkpoint is
// gone). Otherwise the checkpoint row stays locked: a second writer of the
// stream waits here until this transaction ends (or innodb_lock_wait_timeout
// passes), then gets sink.ErrConflict if it committed.
func (s *Sink) Begin(ctx context.Context, stream, expectedOffset string) (sink.Tx, error) {
	stx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("begin %s: %w", stream, err)
	}
	res, err := stx.ExecContext(ctx, `UPDATE syncd_checkpoints SET next_offset = next_offset WHERE stream = ? AND next_offset = ?`,
		stream, expectedOffset)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			err = sink.ErrConflict
		}
	}
	if err != nil {
		_ = stx.Rollback()
		return nil, fmt.Errorf("begin %s at %s: %w", stream, expectedOffset, err)
	}
	return sink.NewTx(stream, &tx{s: s, stream: stream, expect: expectedOffset, tx: stx}), nil
}

// Write applies the batch: the reset (tombstones in tables with soft
// deletes), then each type's upserts and deletes in key order, then the
// history rows and the rejects. Txids are written at Commit. History tables
// and deleted_at columns exist already: Configure created them before any
// data transaction, as DDL would commit this one.
func (t *tx) Write(ctx context.Context, b *sink.Batch, rec *sink.Recorder) error {
	return sink.WriteBatch(ctx, t, b, rec)
}

// ResetRows implements sink.BatchWriter.
func (t *tx) ResetRows(ctx context.Context) ([]string, error) {
	return t.s.flow.ResetStreamRows(ctx, sink.SQLExecer(t.tx), t.stream, dialect{t.s}.TimeArg(time.Now()))
}

// WriteType (sink.BatchWriter) upserts and deletes the ops of one type (all of the same Type,
// in key order) with multi-row statements.
func (t *tx) WriteType(ctx context.Context, ops []state.Op, rec *sink.Recorder) error {
	tbl, err := t.s.table(ctx, ops[0].Type)
	if err != nil {
		return err
	}
	var upserts, softDels []*state.Op
	var deletes []string
	for i := range ops {
		switch {
		case ops[i].Delete && tbl.Soft:
			softDels = append(softDels, &ops[i])
		case ops[i].Delete:
			deletes = append(deletes, ops[i].Key)
		default:
			upserts = append(upserts, &ops[i])
		}
	}
	if len(upserts) >= loadThreshold && !t.s.noLoad.Load() {
		err := t.loadUpserts(ctx, tbl, upserts)
		switch {
		case errors.Is(err, errLoadRefused):
			t.s.noLoad.Store(true)
			t.s.logger.Warn("the server refuses LOAD DATA LOCAL INFILE (local_infile=OFF); large batches use multi-row INSERTs, about half as fast")
		case err != nil:
			return fmt.Errorf("load into %s: %w", tbl.Name, err)
		default:
			if err := t.countNullsOf(ctx, tbl, upserts, rec); err != nil {
				return err
			}
			upserts = nil
		}
	}
	for len(upserts) > 0 {
		n := t.s.chunk(upserts, rowArgs)
		if err := t.upsert(ctx, tbl, upserts[:n], rec); err != nil {
			return fmt.Errorf("upsert into %s: %w", tbl.Name, err)
		}
		upserts = upserts[n:]
	}
	for len(deletes) > 0 {
		n := min(len(deletes), maxPlaceholders-1, t.s.keysPerStatement())
		if _, err := t.tx.ExecContext(ctx, tbl.SQL.delete+placeholders(n), keyArgs(tbl, deletes[:n], t.stream)...); err != nil {
			return fmt.Errorf("delete from %s: %w", tbl.Name, err)
		}
		deletes = deletes[n:]
	}
	if err := t.softDeletes(ctx, tbl, softDels); err != nil {
		return err
	}
	rec.Touch(tbl.Name)
	return nil
}

// upsert writes rows (in key order) with one INSERT … ON DUPLICATE KEY
// UPDATE, and counts their conversion NULLs.
func (t *tx) upsert(ctx context.Context, tbl *entity, rows []*state.Op, rec *sink.Recorder) error {
	var q strings.Builder
	q.WriteString(tbl.SQL.insert)
	args := make([]any, 0, len(rows)*rowArgs)
	keys := make([]string, len(rows))
	for i, op := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(rowValues)
		value := "null" // a change always carries a value; never write SQL NULL
		if op.Value != nil {
			value = string(op.Value)
		}
		args = append(args, op.Key, value, t.stream, nullIfEmpty(op.TxID), eventTime(op.Timestamp), op.Offset)
		keys[i] = op.Key
	}
	if tbl.Soft {
		q.WriteString(tbl.SQL.updateSoft)
	} else {
		q.WriteString(tbl.SQL.update)
	}
	if _, err := t.tx.ExecContext(ctx, q.String(), args...); err != nil {
		return err
	}
	return t.countNulls(ctx, tbl, keys, rec)
}

// countNulls counts the conversion NULLs of the rows of keys just written.
func (t *tx) countNulls(ctx context.Context, tbl *entity, keys []string, rec *sink.Recorder) error {
	if tbl.Nulls.Query == "" {
		return nil
	}
	q := tbl.Nulls
	args := []any{}
	if tbl.Scope == table.ScopeStream {
		q.Query += "`stream` = ? AND "
		args = append(args, t.stream)
	}
	q.Query += "`key` IN " + placeholders(len(keys))
	for _, k := range keys {
		args = append(args, k)
	}
	return rec.CountNulls(ctx, sink.SQLExecer(t.tx), tbl.Name, q, args...)
}

// countNullsOf counts the conversion NULLs of rows, in statements of at
// most keysPerStatement keys.
func (t *tx) countNullsOf(ctx context.Context, tbl *entity, rows []*state.Op, rec *sink.Recorder) error {
	if tbl.Nulls.Query == "" {
		return nil
	}
	for len(rows) > 0 {
		n := min(len(rows), maxPlaceholders-1, t.s.keysPerStatement())
		keys := make([]string, n)
		for i, op := range rows[:n] {
			keys[i] = op.Key
		}
		if err := t.countNulls(ctx, tbl, keys, rec); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// keyArgs are the arguments of a delete: the stream in key scope stream,
// then the keys.
func keyArgs(t *entity, keys []string, stream string) []any {
	args := make([]any, 0, len(keys)+1)
	if t.Scope == table.ScopeStream {
		args = append(args, stream)
	}
	for _, k := range keys {
		args = append(args, k)
	}
	return args
}

// chunk returns how many of the first rows fit one statement: within the
// placeholder limit and, with escaping counted at worst, max_allowed_packet.
// At least one row is always taken.
func (s *Sink) chunk(rows []*state.Op, perRow int) int {
	budget := s.packetBudget()
	n, size := 0, 0
	for n < len(rows) && (n+1)*perRow <= maxPlaceholders {
		op := rows[n]
		size += 2*(len(op.Key)+len(op.Value)+len(op.LastValue)+len(op.TxID)+len(op.Offset)+len(op.Timestamp)) + 128
		if n > 0 && size > budget {
			break
		}
		n++
	}
	return max(n, 1)
}

// packetBudget is the statement size kept below max_allowed_packet.
func (s *Sink) packetBudget() int {
	return max(s.server.maxPacket-64<<10, 64<<10)
}

// keysPerStatement bounds the keys of a DELETE so it fits the packet with
// keys of the longest length.
func (s *Sink) keysPerStatement() int {
	return max(s.packetBudget()/(2*4*maxKeyChars+8), 1)
}

// nullIfEmpty is NULL for "".
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// eventTime parses an RFC 3339 timestamp into UTC, cut to the microseconds
// DATETIME(6) keeps; an empty, unparsable or out-of-range one is NULL
// rather than a failed transaction.
func eventTime(s string) any {
	if s == "" {
		return nil
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	ts = ts.UTC().Truncate(time.Microsecond)
	if ts.Year() < 1000 || ts.Year() > 9999 {
		return nil
	}
	return ts
}

// rejectArgs is the number of placeholders of one reject row.
const rejectArgs = 6

// WriteRejects (sink.BatchWriter) inserts the dead letters with their raw bytes intact.
func (t *tx) WriteRejects(ctx context.Context, rejects []state.Reject) error {
	for len(rejects) > 0 {
		n, size := 0, 0
		for n < len(rejects) && (n+1)*rejectArgs <= maxPlaceholders {
			size += 2*(len(rejects[n].Raw)+len(rejects[n].Reason)+len(rejects[n].ResponseOffset)+len(rejects[n].TxID)) + 128
			if n > 0 && size > t.s.packetBudget() {
				break
			}
			n++
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO syncd_rejects (stream, response_offset, position, raw, reason, txid) VALUES `)
		args := make([]any, 0, n*rejectArgs)
		for i, r := range rejects[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(placeholders(rejectArgs))
			raw := r.Raw
			if raw == nil {
				raw = []byte{}
			}
			args = append(args, t.stream, cleanText(r.ResponseOffset), r.Position, raw, cleanText(r.Reason), rejectTxID(r.TxID))
		}
		if _, err := t.tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert rejects: %w", err)
		}
		rejects = rejects[n:]
	}
	return nil
}

// rejectTxID is the txid stored with a reject: NULL when absent, or longer
// than syncd_rejects.txid holds (such a txid is never committed either, see
// check.go, so no one can be waiting for it).
func rejectTxID(id string) any {
	id = cleanText(id)
	if id == "" || utf8.RuneCountInString(id) > maxTxIDChars {
		return nil
	}
	return id
}

// cleanText makes s storable in a utf8mb4 column: valid UTF-8.
func cleanText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// Commit records the txids, writes the checkpoint (compare-and-set again:
// the row is locked since Begin, so it matches unless the lock was lost)
// and commits.
func (t *tx) Commit(ctx context.Context, c sink.Commit, txids []string, _ *sink.Recorder) error {
	if err := t.writeTxIDs(ctx, c.NextOffset, txids); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE syncd_checkpoints SET next_offset = ?, up_to_date = ?, closed = ?,
		events_applied = events_applied + ?, rejects = rejects + ?, updated_at = UTC_TIMESTAMP(6), halted = ''
		WHERE stream = ? AND next_offset = ?`, c.NextOffset, c.UpToDate, c.Closed, c.Events, c.Rejects, t.stream, t.expect)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(err, sink.ErrConflict)
	}
	return t.tx.Commit()
}

// writeTxIDs upserts the transaction's txids at the commit's offset.
func (t *tx) writeTxIDs(ctx context.Context, offset string, txids []string) error {
	const perRow = 3
	for len(txids) > 0 {
		n := min(len(txids), maxPlaceholders/perRow, max(t.s.packetBudget()/(2*4*(maxTxIDChars+maxStreamChars)+len(offset)*2+64), 1))
		var q strings.Builder
		q.WriteString(`INSERT INTO syncd_txids (stream, txid, next_offset, committed_at) VALUES `)
		args := make([]any, 0, n*perRow)
		for i, id := range txids[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, UTC_TIMESTAMP(6))")
			args = append(args, t.stream, id, offset)
		}
		q.WriteString(t.s.onDuplicate("next_offset", "committed_at"))
		if _, err := t.tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert txids: %w", err)
		}
		txids = txids[n:]
	}
	return nil
}

// Abort rolls back; database/sql rolls back even when ctx is cancelled.
func (t *tx) Abort(_ context.Context, _ error) error {
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}
