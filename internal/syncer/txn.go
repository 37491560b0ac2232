package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// Counts is what a transaction applied, counted before coalescing except
// Upserts and Deletes, which count the rows written.
type Counts struct {
	Events  int64          // change events
	Rejects int64          // dead letters
	Ops     map[string]int // change events per operation (insert, update, upsert, delete)
	Upserts int            // rows upserted (after coalescing, per write into the transaction)
	Deletes int            // rows deleted (likewise)
	// RejectedTxIDs are the txids of the rejects, which waiters on those
	// txids learn about at the commit that records the rejects.
	RejectedTxIDs []string
}

// Result is what one commit did: the checkpoint it wrote, what it counted and
// what the sink reports it wrote. Metrics, the txid waiters and the logs
// consume it (Options.OnCommit).
type Result struct {
	Stream     string
	Checkpoint sink.Checkpoint // the stream's checkpoint after the commit
	Counts
	sink.Result
	Duration time.Duration // writing the last batch and committing (syncd_commit_duration_seconds)
}

// txn is one stream transaction in the making, from the first message after
// a commit (or rollback) to the next commit or rollback: the pending batch,
// the sink transaction (opened at the first write), the batch being written
// in the background, and what it counted. It is used by one goroutine.
type txn struct {
	w      sink.Writer
	stream string
	expect string // the committed offset the checkpoint compare-and-set expects
	max    int    // pending bytes past which the batch is written into the transaction
	opts   *Options

	batch *state.Batch
	tx    sink.Tx
	bg    background
	count Counts
	bytes int64 // response bytes read since the transaction began

	keep    func(typ string) bool // the types that keep history; nil: none
	seqBase int64                 // the stream's events_applied when the transaction began
}

// background is the one batch a transaction may have in flight: written into
// the open sink transaction while the loop decodes on into a second batch,
// which bounds memory to two batches. The flush size stays the batch limit:
// smaller batches coalesce less and cost Postgres repeated updates of the
// same rows (cmd/syncd-bench measured it several times slower on W1).
type background struct {
	done   chan error   // receives the write's result; nil when idle
	batch  *state.Batch // the batch being written
	spare  *state.Batch // an emptied batch to fill next
	offset string       // the response being read when the write started
}

func newTxn(opts *Options, stream, expect string, batch *state.Batch) *txn {
	return &txn{w: opts.Sink, stream: stream, expect: expect, max: opts.MaxBatchBytes, opts: opts, batch: batch, count: Counts{Ops: map[string]int{}}}
}

// history makes the transaction's batches keep the history rows of the
// types keep selects, numbered on from events_applied: the seq of an event
// is the same whatever the response or flush boundaries.
func (t *txn) history(keep func(typ string) bool, eventsApplied int64) {
	t.keep, t.seqBase = keep, eventsApplied
	t.batch.SetHistory(keep)
	t.batch.SetSeqBase(eventsApplied)
}

// pending counts the change events read into the transaction, written or not.
func (t *txn) pending() int64 { return t.count.Events + int64(t.batch.Events()) }

// idle reports whether the transaction holds nothing: no sink transaction,
// nothing pending.
func (t *txn) idle() bool { return t.tx == nil && t.batch.Empty() }

// full reports whether the pending batch should be written now.
func (t *txn) full() bool { return t.batch.Size() > t.max }

// begin opens the sink transaction if none is open. Its compare-and-set
// returns sink.ErrConflict when another writer moved the checkpoint.
func (t *txn) begin(ctx context.Context) error {
	if t.tx != nil {
		return nil
	}
	tx, err := t.w.Begin(ctx, t.stream, t.expect)
	if errors.Is(err, sink.ErrConflict) {
		return sink.ErrConflict
	}
	if err != nil {
		return dbErrorf("begin transaction for %s at %s: %w", t.stream, t.expect, err)
	}
	t.tx = tx
	return nil
}

// flushBehind starts writing the pending batch into the transaction in the
// background and gives the loop an empty batch; a write still in flight is
// waited for first. offset names the response being read, for errors.
func (t *txn) flushBehind(ctx context.Context, offset string) error {
	if err := t.wait(); err != nil {
		return err
	}
	if err := t.begin(ctx); err != nil {
		return err
	}
	b := t.batch
	t.counted(b)
	next := t.bg.spare
	if next == nil {
		next = state.NewBatch()
	}
	next.SetHistory(t.keep)
	next.SetSeqBase(t.seqBase + t.count.Events)
	t.batch, t.bg.spare, t.bg.batch, t.bg.offset = next, nil, b, offset
	done := make(chan error, 1)
	t.bg.done = done
	tx := t.tx
	opts := t.opts
	go func() {
		defer opts.guard()
		done <- tx.Write(ctx, b)
	}()
	return nil
}

// wait waits for the background write, if any, and returns its error.
func (t *txn) wait() error {
	if t.bg.done == nil {
		return nil
	}
	err := <-t.bg.done
	t.bg.done = nil
	t.bg.batch.Clear()
	t.bg.spare, t.bg.batch = t.bg.batch, nil
	if err != nil {
		return t.writeError(err, t.bg.offset)
	}
	return nil
}

// writeError classifies a failed write of the batch read up to offset.
func (t *txn) writeError(err error, offset string) error {
	if errors.Is(err, sink.ErrConflict) {
		return sink.ErrConflict
	}
	return dbErrorf("write batch of %s at %s: %w", t.stream, offset, err)
}

// counted adds a batch written into the transaction to the counts.
func (t *txn) counted(b *state.Batch) {
	t.count.Events += int64(b.Events())
	t.count.Rejects += int64(len(b.Rejects()))
	for _, r := range b.Rejects() {
		if r.TxID != "" {
			t.count.RejectedTxIDs = append(t.count.RejectedTxIDs, r.TxID)
		}
	}
	for op, n := range b.Counts() {
		t.count.Ops[op.String()] += n
	}
	for _, op := range b.Ops() {
		if op.Delete {
			t.count.Deletes++
		} else {
			t.count.Upserts++
		}
	}
}

// commit writes what is pending and the checkpoint c (compare-and-set
// against t.expect) in the one sink transaction, and returns what it did.
// The pending batch goes with the commit (sink.Tx.WriteCommit: SQLite
// loads an empty table straight from it). After it returns, successful or
// not, the transaction is over.
func (t *txn) commit(ctx context.Context, cp sink.Checkpoint, c sink.Commit) (Result, error) {
	if err := t.wait(); err != nil {
		return Result{}, err
	}
	if err := t.begin(ctx); err != nil {
		return Result{}, err
	}
	start := time.Now()
	t.counted(t.batch)
	c.Events, c.Rejects = t.count.Events, t.count.Rejects
	written, err := t.tx.WriteCommit(ctx, t.batch, c)
	t.batch.Clear()
	t.batch.SetSeqBase(t.seqBase + t.count.Events)
	t.tx = nil
	if errors.Is(err, sink.ErrConflict) {
		return Result{}, sink.ErrConflict
	}
	if err != nil {
		return Result{}, dbErrorf("commit %s at %s: %w", t.stream, c.NextOffset, err)
	}
	cp.NextOffset, cp.UpToDate, cp.Closed, cp.Halted = c.NextOffset, c.UpToDate, c.Closed, ""
	cp.EventsApplied += c.Events
	cp.Rejects += c.Rejects
	return Result{Stream: t.stream, Checkpoint: cp, Counts: t.count, Result: written, Duration: time.Since(start)}, nil
}

// rollback discards the transaction: the background write is waited for,
// the sink transaction rolled back (also when ctx has ended), the batch
// emptied. It is safe to call at any time and more than once.
func (t *txn) rollback(ctx context.Context) error {
	_ = t.wait() // the transaction is discarded either way
	t.batch.Clear()
	if t.tx == nil {
		return nil
	}
	tx := t.tx
	t.tx = nil
	if err := tx.Rollback(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("rollback %s: %w", t.stream, err)
	}
	return nil
}
