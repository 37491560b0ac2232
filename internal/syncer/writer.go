package syncer

import (
	"github.com/syncd-io/syncd/internal/state"
)

// writeBehind is the one batch a stream loop may have in flight: a
// background Tx.Write of it into the open transaction, so that a catch-up
// past MaxBatchBytes keeps decoding while the database writes. The flush
// size stays MaxBatchBytes: smaller write-behind batches coalesce less, and
// Postgres then updates the same rows many times in one transaction, which
// cmd/syncd-bench measured to be several times slower on W1. The loop touches the
// transaction again only after wait, so the Tx is still used by one goroutine
// at a time.
type writeBehind struct {
	done  chan error   // receives the result of the write; nil when idle
	batch *state.Batch // the batch being written
	spare *state.Batch // an emptied batch for the loop to fill next
	// offset is that of the response being read when the write started, so a
	// failure names where the failed batch ends, not where the loop is now.
	offset string
}

// flushBehind starts writing the pending batch into the open transaction in
// the background and gives the loop an empty batch to go on with. A previous
// write still in flight is waited for first, which bounds memory to two
// batches.
func (l *streamLoop) flushBehind() error {
	if err := l.waitWrite(); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	b := l.batch
	l.countWritten(b)
	next := l.wb.spare
	if next == nil {
		next = state.NewBatch()
	}
	l.batch, l.wb.spare, l.wb.batch = next, nil, b
	done := make(chan error, 1)
	l.wb.done, l.wb.offset = done, l.resp.Offset
	tx, ctx := l.tx, l.ctx
	go func() { done <- tx.Write(ctx, b) }()
	return nil
}

// waitWrite waits for the background write, if any, and returns its error
// the way flush reports a failed write.
func (l *streamLoop) waitWrite() error {
	if l.wb.done == nil {
		return nil
	}
	err := <-l.wb.done
	l.wb.done = nil
	l.wb.batch.Clear()
	l.wb.spare, l.wb.batch = l.wb.batch, nil
	if err != nil {
		return l.writeError(err, l.wb.offset)
	}
	return nil
}
