package sink

import (
	"context"

	"github.com/syncd-io/syncd/internal/state"
)

// BatchWriter is what a dialect whose statements run inside the open
// transaction supplies to WriteBatch: the SQL of each kind of write. (A
// dialect that stages writes until Commit, as SQLite does, keeps its own
// Write.)
type BatchWriter interface {
	// ResetRows removes (or, with soft deletes, marks) the stream's rows of
	// every entity table and returns the tables it touched.
	ResetRows(ctx context.Context) ([]string, error)
	// WriteType upserts and deletes ops, all of one type and in key order.
	WriteType(ctx context.Context, ops []state.Op, rec *Recorder) error
	// WriteHistory appends history rows.
	WriteHistory(ctx context.Context, rows []state.HistoryRow) error
	// WriteRejects inserts dead letters.
	WriteRejects(ctx context.Context, rejects []state.Reject) error
}

// WriteBatch writes a batch in the order every dialect keeps: the reset
// first, then each type's upserts and deletes in (type, key) order (so that
// concurrent writers lock rows in one order), then history rows and
// rejects. Txids are left to Commit, which knows the offset they become
// visible at.
func WriteBatch(ctx context.Context, w BatchWriter, b *Batch, rec *Recorder) error {
	if b.HasReset() {
		tables, err := w.ResetRows(ctx)
		if err != nil {
			return err
		}
		rec.Touch(tables...)
	}
	ops := b.Ops()
	for len(ops) > 0 {
		n := 1
		for n < len(ops) && ops[n].Type == ops[0].Type {
			n++
		}
		if err := w.WriteType(ctx, ops[:n], rec); err != nil {
			return err
		}
		ops = ops[n:]
	}
	if err := w.WriteHistory(ctx, b.History()); err != nil {
		return err
	}
	return w.WriteRejects(ctx, b.Rejects())
}
