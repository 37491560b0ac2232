package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unsafe"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// stageDDL creates the staging tables of a connection: TEMP tables live in
// the connection's temp database, so filling them takes no lock on the main
// database.
const stageDDL = `
	CREATE TEMP TABLE IF NOT EXISTS syncd_stage (
		type          TEXT    NOT NULL,
		key           TEXT    NOT NULL,
		del           INTEGER NOT NULL,
		value         TEXT,
		txid          TEXT,
		event_time    TEXT,
		synced_offset TEXT    NOT NULL,
		PRIMARY KEY (type, key)
	) WITHOUT ROWID;
	CREATE TEMP TABLE IF NOT EXISTS syncd_stage_rejects (
		response_offset TEXT    NOT NULL,
		position        INTEGER NOT NULL,
		raw             BLOB    NOT NULL,
		reason          TEXT    NOT NULL,
		txid            TEXT
	);
	CREATE TEMP TABLE IF NOT EXISTS syncd_stage_txids (txid TEXT PRIMARY KEY) WITHOUT ROWID;
	CREATE TEMP TABLE IF NOT EXISTS syncd_stage_history (
		seq           INTEGER PRIMARY KEY,
		type          TEXT NOT NULL,
		key           TEXT NOT NULL,
		operation     TEXT NOT NULL,
		value         TEXT,
		old_value     TEXT,
		txid          TEXT,
		event_time    TEXT,
		synced_offset TEXT NOT NULL
	);
	DELETE FROM temp.syncd_stage;
	DELETE FROM temp.syncd_stage_rejects;
	DELETE FROM temp.syncd_stage_txids;
	DELETE FROM temp.syncd_stage_history`

// stageOpsInsert and stageOpsConflict are the statement that stages ops,
// around its VALUES rows (stageOpColumns each). It keeps the last op per
// (type, key) across the Writes of one transaction, as the batch does within
// one Write. A staged delete keeps the value of the write it replaced
// (Op.LastValue, within a Write or across them), for tombstones; the moves of
// deletes read value for nothing else.
const (
	stageOpsInsert   = `INSERT INTO temp.syncd_stage (type, key, del, value, txid, event_time, synced_offset) VALUES `
	stageOpsConflict = ` ON CONFLICT (type, key) DO UPDATE SET del = excluded.del,
		value = CASE WHEN excluded.del AND excluded.value IS NULL THEN syncd_stage.value ELSE excluded.value END,
		txid = excluded.txid, event_time = excluded.event_time, synced_offset = excluded.synced_offset`
	stageOpColumns = 7
)

// tx is the SQLite half of one stream's transaction (sink.TxDriver): a
// connection whose TEMP tables hold the staged batch until Commit moves it
// in under the write lock.
type tx struct {
	s      *Sink
	stream string
	expect string
	conn   *sql.Conn
	reset  bool // a reset was staged: Commit deletes the stream's rows first

	// types and historyTypes are the types of the ops and history rows
	// staged, so that Commit need not scan the TEMP tables for them.
	types, historyTypes map[string]struct{}
}

var _ sink.TxDriver = (*tx)(nil)

// Begin opens the stream's transaction. It returns sink.ErrConflict when the
// stored offset is not expectedOffset. It takes no lock: the
// compare-and-set runs again as the first statement of Commit's write
// transaction, so of two writers that began at the same offset the second
// to commit gets sink.ErrConflict.
func (s *Sink) Begin(ctx context.Context, stream, expectedOffset string) (sink.Tx, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin %s: %w", stream, err)
	}
	var offset string
	err = conn.QueryRowContext(ctx, `SELECT next_offset FROM syncd_checkpoints WHERE stream = ?`, stream).Scan(&offset)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && offset != expectedOffset) {
		err = sink.ErrConflict
	}
	if err == nil {
		_, err = conn.ExecContext(ctx, stageDDL)
	}
	if err != nil {
		discard(conn)
		return nil, fmt.Errorf("begin %s at %s: %w", stream, expectedOffset, err)
	}
	return sink.NewTx(stream, &tx{s: s, stream: stream, expect: expectedOffset, conn: conn,
		types: map[string]struct{}{}, historyTypes: map[string]struct{}{}}), nil
}

// Write stages the batch in the connection's TEMP tables, in a transaction
// of the temp database only. A reset drops what earlier Writes staged, as it
// drops pending ops within a batch. Rows reach the entity tables at Commit,
// which records them.
func (t *tx) Write(ctx context.Context, b *sink.Batch, _ *sink.Recorder) error {
	return t.inTemp(ctx, func() error {
		if b.HasReset() {
			if _, err := t.conn.ExecContext(ctx, `DELETE FROM temp.syncd_stage`); err != nil {
				return err
			}
			t.reset = true
			clear(t.types)
		}
		if err := t.stageOps(ctx, b.Ops()); err != nil {
			return err
		}
		return t.stageRest(ctx, b)
	})
}

// stageRest stages what a batch holds besides ops: history rows and rejects.
func (t *tx) stageRest(ctx context.Context, b *sink.Batch) error {
	if err := t.stageHistoryRows(ctx, b.History()); err != nil {
		return err
	}
	if err := t.stageRejects(ctx, b.Rejects()); err != nil {
		return err
	}
	for _, h := range b.History() {
		t.historyTypes[h.Type] = struct{}{}
	}
	return nil
}

// WriteCommit implements sink.FinalWriteDriver: the ops of a type that may
// take a first load (its table is new or empty, nothing of it is staged,
// and it counts no conversion NULLs) are not staged but kept for applyRows,
// which inserts them straight into the table under the write lock if it is
// still empty (and stages them there if not). A first load then writes
// each row once instead of into the staging table first (and, past the
// page cache, its temp file). Everything else is staged now, outside the
// lock, as Write does. A batch with a reset, or after one, takes Write's
// way.
func (t *tx) WriteCommit(ctx context.Context, b *sink.Batch, c sink.Commit, txids []string, rec *sink.Recorder) error {
	if b.HasReset() || t.reset {
		if err := t.Write(ctx, b, rec); err != nil {
			return err
		}
		return t.Commit(ctx, c, txids, rec)
	}
	runs := opRuns(b.Ops())
	var stage []state.Op // runs of types that cannot load, in type order
	for _, typ := range slices.Sorted(maps.Keys(runs)) {
		load, err := t.mayLoad(ctx, typ)
		if err != nil {
			return err
		}
		if !load {
			stage = append(stage, runs[typ]...)
			delete(runs, typ)
		}
	}
	err := t.inTemp(ctx, func() error {
		if err := t.stageOps(ctx, stage); err != nil {
			return err
		}
		return t.stageRest(ctx, b)
	})
	if err != nil {
		return err
	}
	return t.commit(ctx, c, txids, rec, runs)
}

// mayLoad reports whether the ops of typ may take a first load at the
// commit, as far as can be told before the write lock: nothing of typ is
// staged, and its table is not known or is known to count no NULLs and to
// hold no row of the stream's key space.
func (t *tx) mayLoad(ctx context.Context, typ string) (bool, error) {
	if _, staged := t.types[typ]; staged {
		return false, nil
	}
	tbl := t.s.flow.Cached(typ)
	if tbl == nil {
		return true, nil // new here: applyRows resolves it and checks
	}
	if tbl.Nulls.Query != "" {
		return false, nil
	}
	var empty bool
	if err := t.conn.QueryRowContext(ctx, tbl.SQL.empty, scopeArgs(tbl, t.stream)...).Scan(&empty); err != nil {
		return false, fmt.Errorf("check whether %s is empty: %w", tbl.Name, err)
	}
	return empty, nil
}

// inTemp runs f in a transaction that writes only the connection's temp
// database, so it takes no lock on the main one.
func (t *tx) inTemp(ctx context.Context, f func() error) (err error) {
	if _, err := t.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = t.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := f(); err != nil {
		return err
	}
	_, err = t.conn.ExecContext(ctx, "COMMIT")
	return err
}

// stageTxIDs keeps the transaction's txids for apply, outside the write lock.
func (t *tx) stageTxIDs(ctx context.Context, txids []string) error {
	if len(txids) == 0 {
		return nil
	}
	return t.inTemp(ctx, func() error {
		err := t.insertRows(ctx, `INSERT INTO temp.syncd_stage_txids (txid) VALUES `, "", 1, len(txids), func(i int, args []any) []any {
			return append(args, txids[i])
		})
		if err != nil {
			return fmt.Errorf("stage txids: %w", err)
		}
		return nil
	})
}

// stageOps stages the ops, stageChunk rows per statement.
func (t *tx) stageOps(ctx context.Context, ops []state.Op) error {
	last := "" // ops come in type order: one lookup per type
	for i, op := range ops {
		if i == 0 || op.Type != last {
			t.types[op.Type], last = struct{}{}, op.Type
		}
	}
	var typ, offset boxed
	txid := boxed{null: true}
	err := t.insertRows(ctx, stageOpsInsert, stageOpsConflict, stageOpColumns, len(ops), func(i int, args []any) []any {
		op := &ops[i]
		var value any
		switch {
		case !op.Delete:
			value = liveValue(op)
		case op.LastValue != nil:
			value = borrow(op.LastValue)
		}
		return append(args, typ.of(op.Type), op.Key, op.Delete, value, txid.of(op.TxID), nullIfEmpty(op.Timestamp), offset.of(op.Offset))
	})
	if err != nil {
		return fmt.Errorf("stage ops: %w", err)
	}
	return nil
}

// liveValue is the value column of an op that is not a delete: its value,
// borrowed (see borrow), or JSON null for none (a change always carries a
// value; never write SQL NULL).
func liveValue(op *state.Op) string {
	if op.Value == nil {
		return "null"
	}
	return borrow(op.Value)
}

// borrow returns raw JSON as a string without copying it, for an argument
// of insertRows: the driver copies the text into SQLite before the
// statement returns, and the batch is not changed meanwhile.
func borrow(raw []byte) string { return unsafe.String(unsafe.SliceData(raw), len(raw)) }

// boxed is the last value of a column of insertRows, as an argument: a
// string repeated row after row (type, txid, offset) is then boxed once,
// not once per row. With null set, "" is NULL.
type boxed struct {
	s    string
	v    any
	null bool
}

func (b *boxed) of(s string) any {
	if b.v == nil || s != b.s {
		b.s, b.v = s, s
		if b.null && s == "" {
			b.v = nil
		}
	}
	return b.v
}

// stageChunk is how many rows one staging statement inserts: a statement
// per row costs a driver round trip per row, which took most of the time
// of staging a large batch.
const stageChunk = 100

// insertRows inserts n rows with statements of up to stageChunk rows of
// cols parameters each: head + "(?, …), (?, …)…" + tail. row appends the
// arguments of row i to args, as driver values (string, int64, bool,
// []byte or nil). The statements run on the driver's connection itself:
// database/sql would convert and copy every argument of every statement
// again, and the full-size statement is prepared once.
func (t *tx) insertRows(ctx context.Context, head, tail string, cols, n int, row func(i int, args []any) []any) error {
	if n == 0 {
		return nil
	}
	return t.conn.Raw(func(dc any) (err error) {
		conn, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare statements", dc)
		}
		var full driver.Stmt
		defer func() {
			if full != nil {
				err = errors.Join(err, full.Close())
			}
		}()
		vals := make([]any, 0, stageChunk*cols)
		args := make([]driver.NamedValue, stageChunk*cols)
		for i := range args {
			args[i].Ordinal = i + 1
		}
		for i := 0; i < n; {
			m := min(stageChunk, n-i)
			vals = vals[:0]
			for j := range m {
				vals = row(i+j, vals)
			}
			for k, v := range vals {
				args[k].Value = v
			}
			var q string // prepared only once at full size
			keep := &full
			if m < stageChunk {
				keep = nil
			}
			if keep == nil || full == nil {
				q = head + valuesRows(cols, m) + tail
			}
			if err := t.execRows(ctx, conn, keep, q, args[:len(vals)]); err != nil {
				return fmt.Errorf("rows %d to %d of %d: %w", i+1, i+m, n, err)
			}
			i += m
		}
		return nil
	})
}

// execRows runs q with args on conn: through *full, preparing it first if
// need be, when full is set (q is then the same every time); through a
// statement of its own otherwise.
func (t *tx) execRows(ctx context.Context, conn driver.ConnPrepareContext, full *driver.Stmt, q string, args []driver.NamedValue) (err error) {
	var stmt driver.Stmt
	if full != nil {
		stmt = *full
	}
	if stmt == nil {
		if stmt, err = conn.PrepareContext(ctx, q); err != nil {
			return err
		}
		if full != nil {
			*full = stmt
		} else {
			defer func() { err = errors.Join(err, stmt.Close()) }()
		}
	}
	se, ok := stmt.(driver.StmtExecContext)
	if !ok {
		return fmt.Errorf("driver statement %T cannot execute with a context", stmt)
	}
	_, err = se.ExecContext(ctx, args)
	return err
}

// valuesRows returns n rows of cols parameters: "(?, ?), (?, ?)".
func valuesRows(cols, n int) string {
	one := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return one + strings.Repeat(", "+one, n-1)
}

// stageRejects keeps the dead letters with their raw bytes as a BLOB.
func (t *tx) stageRejects(ctx context.Context, rejects []state.Reject) error {
	err := t.insertRows(ctx, `INSERT INTO temp.syncd_stage_rejects (response_offset, position, raw, reason, txid) VALUES `, "", 5, len(rejects),
		func(i int, args []any) []any {
			r := &rejects[i]
			raw := r.Raw
			if raw == nil {
				raw = []byte{}
			}
			return append(args, r.ResponseOffset, int64(r.Position), raw, r.Reason, nullIfEmpty(r.TxID))
		})
	if err != nil {
		return fmt.Errorf("stage rejects: %w", err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Commit takes the write lock, checks and writes the checkpoint with one
// compare-and-set UPDATE, applies the staged reset, rows, rejects and txids,
// and commits. sink.ErrConflict means another writer moved the checkpoint
// since Begin; nothing was committed.
func (t *tx) Commit(ctx context.Context, c sink.Commit, txids []string, rec *sink.Recorder) error {
	return t.commit(ctx, c, txids, rec, nil)
}

// commit is Commit with the last batch's ops of some types, pending (by
// type), not staged yet (see WriteCommit).
func (t *tx) commit(ctx context.Context, c sink.Commit, txids []string, rec *sink.Recorder, pending map[string][]state.Op) error {
	if err := t.stageTxIDs(ctx, txids); err != nil {
		return err
	}
	created := make(map[string]*entity)
	if err := t.s.writeTx(ctx, t.conn, func() error { return t.apply(ctx, c, created, rec, pending) }); err != nil {
		return err
	}
	t.s.flow.Remember(created)
	t.clearStage(ctx)
	return nil
}

// Abort drops what was staged and returns the connection to the pool; after
// a failure it drops the connection instead (it may hold an open transaction).
func (t *tx) Abort(ctx context.Context, cause error) error {
	if cause != nil {
		discard(t.conn)
		return nil
	}
	t.clearStage(ctx)
	return nil
}

// clearStage empties the TEMP tables and returns the connection to the pool,
// or drops the connection if that fails.
func (t *tx) clearStage(ctx context.Context) {
	_, err := t.conn.ExecContext(context.WithoutCancel(ctx),
		`DELETE FROM temp.syncd_stage; DELETE FROM temp.syncd_stage_rejects; DELETE FROM temp.syncd_stage_txids;
		DELETE FROM temp.syncd_stage_history`)
	if err != nil {
		discard(t.conn)
		return
	}
	_ = t.conn.Close()
}

// apply runs inside the write transaction.
func (t *tx) apply(ctx context.Context, c sink.Commit, created map[string]*entity, rec *sink.Recorder, pending map[string][]state.Op) error {
	ts := now()
	res, err := t.conn.ExecContext(ctx, `UPDATE syncd_checkpoints SET next_offset = ?, up_to_date = ?, closed = ?,
		events_applied = events_applied + ?, rejects = rejects + ?, updated_at = ?, halted = ''
		WHERE stream = ? AND next_offset = ?`,
		c.NextOffset, c.UpToDate, c.Closed, c.Events, c.Rejects, ts, t.stream, t.expect)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(err, sink.ErrConflict)
	}
	if t.reset {
		tables, err := t.s.flow.ResetStreamRows(ctx, sink.SQLExecer(t.conn), t.stream, ts)
		if err != nil {
			return err
		}
		rec.Touch(tables...)
	}
	if err := t.applyRows(ctx, ts, created, rec, pending); err != nil {
		return err
	}
	if err := t.applyHistory(ctx, ts, created); err != nil {
		return err
	}
	if _, err := t.conn.ExecContext(ctx, `INSERT INTO syncd_rejects (stream, response_offset, position, raw, reason, created_at, txid)
		SELECT ?, response_offset, position, raw, reason, ?, txid FROM temp.syncd_stage_rejects ORDER BY rowid`, t.stream, ts); err != nil {
		return fmt.Errorf("insert rejects: %w", err)
	}
	if _, err := t.conn.ExecContext(ctx, `INSERT INTO syncd_txids (stream, txid, next_offset, committed_at)
		SELECT ?, txid, ?, ? FROM temp.syncd_stage_txids WHERE true
		ON CONFLICT (stream, txid) DO UPDATE SET next_offset = excluded.next_offset, committed_at = excluded.committed_at`,
		t.stream, c.NextOffset, ts); err != nil {
		return fmt.Errorf("insert txids: %w", err)
	}
	return nil
}

// applyRows moves the staged ops into their entity tables, type by type,
// registering and creating the tables of new types in the same transaction
// (SQLite has one writer, so the DDL rides in the data transaction and
// commits or rolls back with it).
//
// A table that holds no row the staged ops could meet (none at all, or
// none of the stream in key scope stream) takes a first load: a plain
// INSERT, and no deletes, which could only meet rows it does not have.
// The write lock is held from the check on, so no other writer can add a
// row in between.
//
// pending are ops not staged yet, of types that may take a first load
// (WriteCommit's mayLoad: nothing staged, no NULL counter), by type, each
// in key order: those whose table is still empty go straight into it, rows
// in key order; the others are staged first.
func (t *tx) applyRows(ctx context.Context, ts string, created map[string]*entity, rec *sink.Recorder, pending map[string][]state.Op) error {
	ex := sink.SQLExecer(t.conn)
	runs := maps.Clone(pending)
	if runs == nil {
		runs = map[string][]state.Op{}
	}
	for typ := range t.types {
		if _, ok := runs[typ]; !ok {
			runs[typ] = nil
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(runs)) {
		tbl, err := t.tableOf(ctx, typ, created)
		if err != nil {
			return err
		}
		var empty bool
		if err := t.conn.QueryRowContext(ctx, tbl.SQL.empty, scopeArgs(tbl, t.stream)...).Scan(&empty); err != nil {
			return fmt.Errorf("check whether %s is empty: %w", tbl.Name, err)
		}
		if run := runs[typ]; len(run) > 0 {
			if empty {
				if err := t.load(ctx, tbl, ts, run); err != nil {
					return fmt.Errorf("load %s: %w", tbl.Name, err)
				}
				rec.Touch(tbl.Name)
				continue
			}
			if err := t.stageOps(ctx, run); err != nil {
				return err
			}
		}
		upsert := tbl.SQL.upsert
		switch {
		case empty:
			upsert = tbl.SQL.load
		case tbl.Soft:
			upsert = tbl.SQL.upsertSoft
		}
		if _, err := t.conn.ExecContext(ctx, upsert, t.stream, ts, typ); err != nil {
			return fmt.Errorf("upsert into %s: %w", tbl.Name, err)
		}
		if err := rec.CountNulls(ctx, ex, tbl.Name, tbl.Nulls, typeArgs(tbl, t.stream, typ)...); err != nil {
			return err
		}
		rec.Touch(tbl.Name)
		if empty {
			continue
		}
		if tbl.Soft {
			if _, err := t.conn.ExecContext(ctx, tbl.SQL.softDelete, ts, t.stream, typ); err != nil {
				return fmt.Errorf("mark deleted in %s: %w", tbl.Name, err)
			}
		} else if _, err := t.conn.ExecContext(ctx, tbl.SQL.delete, typeArgs(tbl, t.stream, typ)...); err != nil {
			return fmt.Errorf("delete from %s: %w", tbl.Name, err)
		}
	}
	return nil
}

// opRuns returns the runs of ops of each type (ops come in type order).
func opRuns(ops []state.Op) map[string][]state.Op {
	runs := map[string][]state.Op{}
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].Type == ops[i].Type {
			j++
		}
		runs[ops[i].Type] = ops[i:j]
		i = j
	}
	return runs
}

// load inserts the ops that are not deletes into tbl, which holds no row
// they could meet (a first load: the deletes could only remove rows it does
// not have), in the order of ops (key order).
func (t *tx) load(ctx context.Context, tbl *entity, ts string, ops []state.Op) error {
	live := make([]int, 0, len(ops))
	for i := range ops {
		if !ops[i].Delete {
			live = append(live, i)
		}
	}
	stream, at := any(t.stream), any(ts)
	txid := boxed{null: true}
	var offset boxed
	return t.insertRows(ctx, tbl.SQL.insert, "", entityColumns, len(live), func(i int, args []any) []any {
		op := &ops[live[i]]
		return append(args, op.Key, liveValue(op), stream, txid.of(op.TxID), nullIfEmpty(op.Timestamp), offset.of(op.Offset), at)
	})
}

// tableOf returns the table of typ, resolving it inside the write
// transaction (and noting it in created) when it is not cached.
func (t *tx) tableOf(ctx context.Context, typ string, created map[string]*entity) (*entity, error) {
	if tbl := t.s.flow.Cached(typ); tbl != nil {
		return tbl, nil
	}
	if tbl := created[typ]; tbl != nil {
		return tbl, nil
	}
	tbl, err := t.s.flow.Resolve(ctx, sink.SQLExecer(t.conn), typ)
	if err != nil {
		return nil, err
	}
	created[typ] = tbl
	return tbl, nil
}
