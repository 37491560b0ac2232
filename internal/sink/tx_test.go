package sink

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/state"
)

// driver is a TxDriver that records what the skeleton asks of it and fails
// where told; the dialects' real drivers are tested by sinktest.
type driver struct {
	writeErr, commitErr error
	committed           [][]string // txids handed to each Commit
	aborts              []error    // causes
	abortCtxErr         error      // ctx.Err() seen by the last Abort
}

func (d *driver) Write(_ context.Context, b *Batch, rec *Recorder) error {
	if d.writeErr != nil {
		return d.writeErr
	}
	for _, op := range b.Ops() {
		rec.Touch("t_" + op.Type)
	}
	return nil
}

func (d *driver) Commit(_ context.Context, _ Commit, txids []string, _ *Recorder) error {
	d.committed = append(d.committed, txids)
	return d.commitErr
}

func (d *driver) Abort(ctx context.Context, cause error) error {
	d.aborts = append(d.aborts, cause)
	d.abortCtxErr = ctx.Err()
	return nil
}

func batchOf(t *testing.T, typ string, txids ...string) *Batch {
	t.Helper()
	b := state.NewBatch()
	for i, id := range txids {
		b.AddChange(state.Change{Type: typ, Key: string(rune('a' + i)), Op: state.Upsert, Value: []byte(`1`), TxID: id}, "o")
	}
	return b
}

func TestTxResult(t *testing.T) {
	t.Parallel()
	d := &driver{}
	tx := NewTx("s", d)
	for _, b := range []*Batch{batchOf(t, "y", "t2", "t1"), batchOf(t, "x", "t1", "t3", "t2")} {
		if err := tx.Write(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tx.Commit(t.Context(), Commit{NextOffset: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.TxIDs, ","); got != "t2,t1,t3" {
		t.Errorf("Result.TxIDs = %s, want t2,t1,t3 (distinct, first seen first)", got)
	}
	if got := strings.Join(d.committed[0], ","); got != "t2,t1,t3" {
		t.Errorf("driver got txids %s", got)
	}
	if got := strings.Join(res.Tables, ","); got != "t_x,t_y" {
		t.Errorf("Result.Tables = %s, want t_x,t_y (sorted)", got)
	}
	if err := tx.Rollback(t.Context()); err != nil || len(d.aborts) != 0 {
		t.Errorf("rollback after commit: %v, aborts %v", err, d.aborts)
	}
	if _, err := tx.Commit(t.Context(), Commit{NextOffset: "2"}); err == nil || len(d.committed) != 1 {
		t.Errorf("second commit: %v, driver commits %d", err, len(d.committed))
	}
}

func TestTxFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, at := range []string{"write", "commit"} {
		t.Run(at, func(t *testing.T) {
			t.Parallel()
			d := &driver{}
			tx := NewTx("s", d)
			var err error
			if at == "write" {
				d.writeErr = boom
				err = tx.Write(t.Context(), batchOf(t, "x", "t1"))
			} else {
				d.commitErr = ErrConflict
				_, err = tx.Commit(t.Context(), Commit{NextOffset: "1"})
			}
			if err == nil || !strings.Contains(err.Error(), at+" s") {
				t.Fatalf("%s error %v does not name the step and stream", at, err)
			}
			if at == "commit" && !errors.Is(err, ErrConflict) {
				t.Fatalf("commit error %v does not wrap ErrConflict", err)
			}
			if len(d.aborts) != 1 || d.aborts[0] == nil {
				t.Fatalf("aborts after a failed %s: %v, want one with its cause", at, d.aborts)
			}
			if err := tx.Write(t.Context(), batchOf(t, "x")); err == nil || !strings.Contains(err.Error(), "failed earlier") {
				t.Fatalf("write after a failure: %v", err)
			}
			if err := tx.Rollback(t.Context()); err != nil || len(d.aborts) != 1 {
				t.Fatalf("rollback after a failure: %v, aborts %v", err, d.aborts)
			}
		})
	}
}

func TestTxRollbackCancelled(t *testing.T) {
	t.Parallel()
	d := &driver{}
	tx := NewTx("s", d)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if len(d.aborts) != 1 || d.aborts[0] != nil || d.abortCtxErr != nil {
		t.Fatalf("aborts %v with ctx error %v: want one plain abort on a live context", d.aborts, d.abortCtxErr)
	}
	if err := tx.Rollback(ctx); err != nil || len(d.aborts) != 1 {
		t.Fatalf("second rollback: %v, aborts %v", err, d.aborts)
	}
}
