package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// tx is the Postgres half of one stream's open transaction (sink.TxDriver).
// It holds the stream's checkpoint row lock from Begin to Commit or Rollback.
type tx struct {
	s      *Sink
	stream string
	tx     pgx.Tx
}

var (
	_ sink.TxDriver      = (*tx)(nil)
	_ sink.TablePreparer = (*Sink)(nil)
)

// Begin opens the stream's transaction with the checkpoint compare-and-set
// guard as its first statement. It returns sink.ErrConflict when the stored
// offset is not expectedOffset (or the checkpoint is gone). Otherwise the
// checkpoint row stays locked: a second writer of the stream waits here
// until this transaction ends, then gets sink.ErrConflict if it committed.
func (s *Sink) Begin(ctx context.Context, stream, expectedOffset string) (sink.Tx, error) {
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin %s: %w", stream, err)
	}
	tag, err := ptx.Exec(ctx, s.q.guard, stream, expectedOffset)
	if err == nil && tag.RowsAffected() == 0 {
		err = sink.ErrConflict
	}
	if err != nil {
		_ = ptx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("begin %s at %s: %w", stream, expectedOffset, err)
	}
	return sink.NewTx(stream, &tx{s: s, stream: stream, tx: ptx}), nil
}

// Write applies the batch: the reset, then each type's upserts and deletes in
// key order, then the rejects. Txids are written at Commit, which knows the
// offset they become visible at.
func (t *tx) Write(ctx context.Context, b *sink.Batch, rec *sink.Recorder) error {
	return sink.WriteBatch(ctx, t, b, rec)
}

// ResetRows implements sink.BatchWriter.
func (t *tx) ResetRows(ctx context.Context) ([]string, error) {
	return t.s.flow.ResetStreamRows(ctx, execer{t.tx}, t.stream, time.Now())
}

// WriteType (sink.BatchWriter) upserts and deletes the ops of one type (all of the same Type,
// in key order) with one set-based statement each.
func (t *tx) WriteType(ctx context.Context, ops []state.Op, rec *sink.Recorder) error {
	tbl, err := t.s.table(ctx, ops[0].Type)
	if err != nil {
		return err
	}
	nDel := 0
	for i := range ops {
		if ops[i].Delete {
			nDel++
		}
	}
	// Sized up front: append grows arrays of 100,000 rows a quarter at a
	// time, copying them over and over.
	up, dels := newUpsertArgs(len(ops)-nDel), newUpsertArgs(nDel)
	lastValues := make([]pgtype.Text, 0, nDel)
	for i := range ops {
		if ops[i].Delete {
			dels.add(&ops[i])
			lastValues = append(lastValues, jsonText(ops[i].LastValue))
		} else {
			up.add(&ops[i])
		}
	}
	deletes := dels.keys
	loaded, err := t.upsert(ctx, tbl, &up)
	if err != nil {
		return fmt.Errorf("upsert into %s: %w", tbl.Name, err)
	}
	if len(up.keys) > 0 {
		if err := rec.CountNulls(ctx, execer{t.tx}, tbl.Name, tbl.Nulls, keyArgs(tbl, up.keys, t.stream)...); err != nil {
			return err
		}
	}
	switch {
	case len(deletes) > 0 && tbl.Soft:
		if _, err := t.tx.Exec(ctx, tbl.SQL.softDelete, t.stream, dels.keys, dels.txids, dels.times, dels.offsets, lastValues); err != nil {
			return fmt.Errorf("mark deleted in %s: %w", tbl.Name, err)
		}
	case len(deletes) > 0 && !loaded:
		// After a first load the table held no row before this batch,
		// which holds each key once: no row of a key it deletes is
		// there to delete. (A row another writer committed since then
		// is ordered after this delete, as with any concurrent writer.)
		if _, err := t.tx.Exec(ctx, tbl.SQL.delete, keyArgs(tbl, deletes, t.stream)...); err != nil {
			return fmt.Errorf("delete from %s: %w", tbl.Name, err)
		}
	}
	rec.Touch(tbl.Name)
	return nil
}

// copyThreshold is the number of upserts from which COPY into a staging
// table beats one INSERT from arrays (BenchmarkWrite: about a third faster
// at 10k rows; the extra round trips cost more on small live batches).
const copyThreshold = 1000

// stageDDL creates the connection's staging table for COPY. The statement
// that moves its rows also deletes them; ON COMMIT DELETE ROWS is the
// safety net.
const stageDDL = `CREATE TEMP TABLE IF NOT EXISTS syncd_stage (
	key text, value jsonb, txid text, event_time timestamptz, synced_offset text
) ON COMMIT DELETE ROWS`

// stageColumns are the columns COPY fills.
var stageColumns = []string{"key", "value", "txid", "event_time", "synced_offset"}

// upsert writes the rows of up into tbl with one INSERT from arrays, or
// through COPY when there are many. loaded reports that the rows went
// into a table that was empty (see firstLoad).
func (t *tx) upsert(ctx context.Context, tbl *entity, up *upsertArgs) (loaded bool, err error) {
	n := len(up.keys)
	if n == 0 {
		return false, nil
	}
	upsert, move := tbl.SQL.upsert, tbl.SQL.move
	if tbl.Soft {
		upsert, move = tbl.SQL.upsertSoft, tbl.SQL.moveSoft
	}
	if n < copyThreshold {
		_, err := t.tx.Exec(ctx, upsert, t.stream, up.keys, up.texts(), up.txids, up.times, up.offsets)
		return false, err
	}
	if done, err := t.firstLoad(ctx, tbl, up); done || err != nil {
		return done, err
	}
	if _, err := t.tx.Exec(ctx, stageDDL); err != nil {
		return false, fmt.Errorf("create staging table: %w", err)
	}
	rows := pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		return []any{up.keys[i], up.values[i], up.txids[i], up.times[i], up.offsets[i]}, nil
	})
	if _, err := t.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", "syncd_stage"}, stageColumns, rows); err != nil {
		return false, fmt.Errorf("copy: %w", err)
	}
	_, err = t.tx.Exec(ctx, move, t.stream)
	return false, err
}

// firstLoad copies the rows straight into tbl when it is empty (a first
// catch-up): one pass instead of COPY into staging plus INSERT … ON CONFLICT
// (W2 through the sink: see the commit that added it). The batch holds each
// key once, so only another transaction's rows could conflict: the COPY runs
// under a savepoint and, on a unique violation (a concurrent writer of the
// same table committed first), is undone and done is false, so that the
// caller upserts as usual. synced_at is the database's clock, as in the
// upsert statements.
func (t *tx) firstLoad(ctx context.Context, tbl *entity, up *upsertArgs) (done bool, err error) {
	var empty bool
	var now time.Time
	if err := t.tx.QueryRow(ctx, tbl.SQL.empty).Scan(&empty, &now); err != nil {
		return false, fmt.Errorf("check whether %s is empty: %w", tbl.Name, err)
	}
	if !empty {
		return false, nil
	}
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return false, err
	}
	rows := pgx.CopyFromSlice(len(up.keys), func(i int) ([]any, error) {
		return []any{up.keys[i], up.values[i], t.stream, up.txids[i], up.times[i], up.offsets[i], now}, nil
	})
	if _, err := sp.CopyFrom(ctx, tbl.SQL.ident, entityColumns, rows); err != nil {
		if rbErr := sp.Rollback(ctx); rbErr != nil {
			return false, fmt.Errorf("copy into %s: %w (rollback to savepoint: %v)", tbl.Name, err, rbErr)
		}
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
			return false, nil
		}
		return false, fmt.Errorf("copy into %s: %w", tbl.Name, err)
	}
	return true, sp.Commit(ctx)
}

// uniqueViolation is the SQLSTATE of a duplicate key.
const uniqueViolation = "23505"

// entityColumns are the columns a first load copies.
var entityColumns = []string{"key", "value", "stream", "txid", "event_time", "synced_offset", "synced_at"}

// upsertArgs are the column arrays of one upsert statement. The values are
// the ops' own bytes, which COPY sends as they are (jsonb from []byte is the
// raw JSON); texts copies them for the array form of small batches.
type upsertArgs struct {
	keys, offsets []string
	values        [][]byte
	txids         []pgtype.Text
	times         []pgtype.Timestamptz
}

func newUpsertArgs(n int) upsertArgs {
	return upsertArgs{
		keys: make([]string, 0, n), offsets: make([]string, 0, n), values: make([][]byte, 0, n),
		txids: make([]pgtype.Text, 0, n), times: make([]pgtype.Timestamptz, 0, n),
	}
}

// jsonNull is the value of an op without one: a change always carries a
// value; never write SQL NULL.
var jsonNull = []byte("null")

func (a *upsertArgs) add(op *state.Op) {
	value := op.Value
	if value == nil {
		value = jsonNull
	}
	a.keys = append(a.keys, op.Key)
	a.values = append(a.values, value)
	a.offsets = append(a.offsets, op.Offset)
	a.txids = append(a.txids, pgtype.Text{String: op.TxID, Valid: op.TxID != ""})
	a.times = append(a.times, eventTime(op.Timestamp))
}

// texts returns the values as strings, for the text[] parameter of the
// array form.
func (a *upsertArgs) texts() []string {
	out := make([]string, len(a.values))
	for i, v := range a.values {
		out[i] = string(v)
	}
	return out
}

// eventTime parses an RFC 3339 timestamp; an empty or unparsable one is NULL
// rather than a failed transaction.
func eventTime(s string) pgtype.Timestamptz {
	if s == "" {
		return pgtype.Timestamptz{}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: ts, Valid: true}
}

// WriteRejects (sink.BatchWriter) inserts the dead letters with their raw bytes intact.
func (t *tx) WriteRejects(ctx context.Context, rejects []state.Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	n := len(rejects)
	offsets, reasons, txids := make([]string, n), make([]string, n), make([]string, n)
	positions, raws := make([]int32, n), make([][]byte, n)
	for i, r := range rejects {
		offsets[i], positions[i], raws[i] = cleanText(r.ResponseOffset), int32(r.Position), r.Raw
		reasons[i], txids[i] = cleanText(r.Reason), cleanText(r.TxID)
		if raws[i] == nil {
			raws[i] = []byte{}
		}
	}
	if _, err := t.tx.Exec(ctx, t.s.q.insertRejects, t.stream, offsets, positions, raws, reasons, txids); err != nil {
		return fmt.Errorf("insert rejects: %w", err)
	}
	return nil
}

// cleanText makes s storable in a text column: valid UTF-8 without NUL.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Commit records the txids, writes the checkpoint, notifies listeners on the
// "syncd" channel and commits.
func (t *tx) Commit(ctx context.Context, c sink.Commit, txids []string, rec *sink.Recorder) error {
	if len(txids) > 0 {
		if _, err := t.tx.Exec(ctx, t.s.q.insertTxIDs, t.stream, c.NextOffset, txids); err != nil {
			return fmt.Errorf("insert txids: %w", err)
		}
	}
	tag, err := t.tx.Exec(ctx, t.s.q.commit, t.stream, c.NextOffset, c.UpToDate, c.Closed, c.Events, c.Rejects)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return sink.ErrConflict
	}
	if _, err := t.tx.Exec(ctx, t.s.q.notify, notifyPayload(t.s.schema, t.stream, c.NextOffset, rec.Tables(), txids)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return t.tx.Commit(ctx)
}

// Abort rolls back, even when ctx is cancelled, so shutdown still releases
// the checkpoint row lock.
func (t *tx) Abort(ctx context.Context, _ error) error {
	err := t.tx.Rollback(context.WithoutCancel(ctx))
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}
