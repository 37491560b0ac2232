package sink

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// TxDriver is a dialect's half of one stream's open transaction. The Tx that
// NewTx returns runs it: it keeps the transaction's state (usable, failed,
// ended), de-duplicates txids and builds the Result, so a driver only moves
// rows. A driver is used by one goroutine at a time.
type TxDriver interface {
	// Write applies (or stages) b and records in rec the tables it wrote
	// and the conversion NULLs it counted.
	Write(ctx context.Context, b *Batch, rec *Recorder) error
	// Commit writes txids (the distinct txids of every Write, in first-seen
	// order) and the checkpoint compare-and-set, and commits; ErrConflict
	// when the checkpoint moved. It may record in rec too.
	Commit(ctx context.Context, c Commit, txids []string, rec *Recorder) error
	// Abort ends the transaction without committing, even when ctx is
	// cancelled. cause is the error that made the transaction unusable, nil
	// for a plain Rollback. It is called at most once, and never after a
	// successful Commit.
	Abort(ctx context.Context, cause error) error
}

// FinalWriteDriver is implemented by drivers that write a transaction's last
// batch better together with the commit than before it (SQLite: a table
// that is empty takes the batch's rows straight from it under the write
// lock, instead of through the staging tables).
type FinalWriteDriver interface {
	// WriteCommit is Write(b) then Commit(c, txids), txids including b's.
	WriteCommit(ctx context.Context, b *Batch, c Commit, txids []string, rec *Recorder) error
}

// NewTx returns the stream's transaction, run by d.
func NewTx(stream string, d TxDriver) Tx {
	return &tx{stream: stream, d: d, seen: map[string]struct{}{}}
}

// tx is the transaction skeleton every dialect shares.
type tx struct {
	stream string
	d      TxDriver
	rec    Recorder
	txids  []string // distinct, in first-seen order
	seen   map[string]struct{}
	done   bool  // committed or rolled back
	failed error // the error that made the transaction unusable
}

// usable returns why the transaction can no longer be used, or nil.
func (t *tx) usable() error {
	switch {
	case t.failed != nil:
		return fmt.Errorf("transaction of %s failed earlier: %w", t.stream, t.failed)
	case t.done:
		return fmt.Errorf("transaction of %s already ended", t.stream)
	}
	return nil
}

// fail makes the transaction unusable and aborts it at once (on Postgres
// this releases the checkpoint row lock without waiting for Rollback).
func (t *tx) fail(ctx context.Context, err error) error {
	t.failed = err
	if !t.done {
		t.done = true
		_ = t.d.Abort(context.WithoutCancel(ctx), err)
	}
	return err
}

func (t *tx) Write(ctx context.Context, b *Batch) error {
	if err := t.usable(); err != nil {
		return err
	}
	if err := t.d.Write(ctx, b, &t.rec); err != nil {
		return t.fail(ctx, fmt.Errorf("write %s: %w", t.stream, err))
	}
	t.addTxIDs(b)
	return nil
}

// addTxIDs adds b's txids not seen before, in first-seen order.
func (t *tx) addTxIDs(b *Batch) {
	for _, id := range b.TxIDs() {
		if _, ok := t.seen[id]; !ok {
			t.seen[id] = struct{}{}
			t.txids = append(t.txids, id)
		}
	}
}

func (t *tx) WriteCommit(ctx context.Context, b *Batch, c Commit) (Result, error) {
	d, ok := t.d.(FinalWriteDriver)
	if !ok {
		if err := t.Write(ctx, b); err != nil {
			return Result{}, err
		}
		return t.Commit(ctx, c)
	}
	if err := t.usable(); err != nil {
		return Result{}, err
	}
	t.addTxIDs(b)
	return t.commitWith(ctx, c, func() error { return d.WriteCommit(ctx, b, c, t.txids, &t.rec) })
}

func (t *tx) Commit(ctx context.Context, c Commit) (Result, error) {
	if err := t.usable(); err != nil {
		return Result{}, err
	}
	return t.commitWith(ctx, c, func() error { return t.d.Commit(ctx, c, t.txids, &t.rec) })
}

// commitWith ends the transaction with commit, the driver's.
func (t *tx) commitWith(ctx context.Context, c Commit, commit func() error) (Result, error) {
	if err := commit(); err != nil {
		return Result{}, t.fail(ctx, fmt.Errorf("commit %s at %s: %w", t.stream, c.NextOffset, err))
	}
	t.done = true
	return Result{Tables: t.rec.Tables(), TxIDs: slices.Clone(t.txids), Nulls: t.rec.columnNulls()}, nil
}

func (t *tx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	t.done = true
	if err := t.d.Abort(context.WithoutCancel(ctx), nil); err != nil {
		return fmt.Errorf("rollback %s: %w", t.stream, err)
	}
	return nil
}

// Recorder collects what one transaction wrote, for its Result.
type Recorder struct {
	touched map[string]struct{}
	nulls   map[[2]string]int // (table, column) → count
}

// Touch records that rows of the tables were written.
func (r *Recorder) Touch(tables ...string) {
	if r.touched == nil {
		r.touched = map[string]struct{}{}
	}
	for _, name := range tables {
		r.touched[name] = struct{}{}
	}
}

// Tables returns the tables touched so far, sorted.
func (r *Recorder) Tables() []string {
	out := make([]string, 0, len(r.touched))
	for name := range r.touched {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// CountNulls runs q (the NULL counter of the entity table name) in ex with
// args, which select the rows just written, and adds up its counts. It
// costs one query, and only for tables with columns that can fail to convert.
func (r *Recorder) CountNulls(ctx context.Context, ex Execer, name string, q NullQuery, args ...any) error {
	if q.Query == "" {
		return nil
	}
	counts := make([]int64, len(q.Columns))
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if _, err := queryRow(ctx, ex, q.Query, args, dest...); err != nil {
		return fmt.Errorf("count conversion NULLs in %s: %w", name, err)
	}
	for i, n := range counts {
		if n == 0 {
			continue
		}
		if r.nulls == nil {
			r.nulls = map[[2]string]int{}
		}
		r.nulls[[2]string{name, q.Columns[i]}] += int(n)
	}
	return nil
}

// columnNulls returns the counts sorted by table and column.
func (r *Recorder) columnNulls() []ColumnNulls {
	var out []ColumnNulls
	for k, n := range r.nulls {
		out = append(out, ColumnNulls{Table: k[0], Column: k[1], N: n})
	}
	slices.SortFunc(out, func(a, b ColumnNulls) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Column, b.Column))
	})
	return out
}
