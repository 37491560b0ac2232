package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/state"
)

// openSQLite returns a migrated SQLite sink in the test's temp dir.
func openSQLite(t *testing.T) *sqlite.Sink {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.New(ctx, filepath.Join(t.TempDir(), "syncd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// faultySink is a real sink with faults armed per operation ("begin",
// "write", "commit"): the next call of that operation fails with the armed
// error instead of reaching the database (a write or commit that fails
// rolls the real transaction back, as a failed statement would). before,
// when set, runs ahead of every operation, e.g. to cancel the loop's ctx.
type faultySink struct {
	sink.Writer

	mu     sync.Mutex
	faults map[string][]error
	hits   map[string]int // faults fired, per operation
	calls  map[string]int // operations attempted
	real   map[string]int // conflicts the real sink answered, per operation
	before func(op string)
}

func newFaultySink(w sink.Writer) *faultySink {
	return &faultySink{Writer: w, faults: map[string][]error{}, hits: map[string]int{}, calls: map[string]int{}, real: map[string]int{}}
}

// arm queues err for the next call of op.
func (f *faultySink) arm(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], err)
}

// called returns how many times op was attempted.
func (f *faultySink) called(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// fired returns how many armed faults of op fired.
func (f *faultySink) fired(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[op]
}

func (f *faultySink) take(op string) error {
	f.mu.Lock()
	f.calls[op]++
	hook := f.before
	var err error
	if q := f.faults[op]; len(q) > 0 {
		err, f.faults[op] = q[0], q[1:]
		f.hits[op]++
	}
	f.mu.Unlock()
	if hook != nil {
		hook(op)
	}
	return err
}

func (f *faultySink) Begin(ctx context.Context, stream, expected string) (sink.Tx, error) {
	if err := f.take("begin"); err != nil {
		return nil, err
	}
	tx, err := f.Writer.Begin(ctx, stream, expected)
	if err != nil {
		f.conflict("begin", err)
		return nil, err
	}
	return &faultyTx{Tx: tx, f: f}, nil
}

type faultyTx struct {
	sink.Tx
	f *faultySink
}

func (t *faultyTx) Write(ctx context.Context, b *sink.Batch) error {
	if err := t.f.take("write"); err != nil {
		_ = t.Tx.Rollback(ctx)
		return err
	}
	return t.Tx.Write(ctx, b)
}

func (t *faultyTx) Commit(ctx context.Context, c sink.Commit) (sink.Result, error) {
	if err := t.f.take("commit"); err != nil {
		_ = t.Tx.Rollback(ctx)
		return sink.Result{}, err
	}
	res, err := t.Tx.Commit(ctx, c)
	t.f.conflict("commit", err)
	return res, err
}

// WriteCommit takes the faults of a write and then of a commit, the two
// steps it stands for, so that the loop meets them in the sink's final
// write too.
func (t *faultyTx) WriteCommit(ctx context.Context, b *sink.Batch, c sink.Commit) (sink.Result, error) {
	for _, op := range []string{"write", "commit"} {
		if err := t.f.take(op); err != nil {
			_ = t.Tx.Rollback(ctx)
			return sink.Result{}, err
		}
	}
	res, err := t.Tx.WriteCommit(ctx, b, c)
	t.f.conflict("commit", err)
	return res, err
}

// conflict records a conflict the real sink answered.
func (f *faultySink) conflict(op string, err error) {
	if errors.Is(err, sink.ErrConflict) {
		f.mu.Lock()
		f.real[op]++
		f.mu.Unlock()
	}
}

// conflicts returns how many conflicts the real sink answered: a loop that
// keeps its committed checkpoint right never meets one when it writes alone.
func (f *faultySink) conflicts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.real["begin"] + f.real["commit"]
}

// errDisk stands for any database failure.
var errDisk = errors.New("disk I/O error (injected)")

// model materializes msgs the way the State Protocol defines it: the
// expected rows per type (key → JSON value), change events and rejects.
type model struct {
	rows    map[string]map[string]any
	events  int64
	rejects int64
}

func materialize(t *testing.T, msgs [][]byte) model {
	t.Helper()
	m := model{rows: map[string]map[string]any{}}
	for _, raw := range msgs {
		ev := state.Decode(raw)
		switch ev.Kind {
		case state.KindChange:
			m.events++
			c := ev.Change
			if m.rows[c.Type] == nil {
				m.rows[c.Type] = map[string]any{}
			}
			if c.Op == state.Delete {
				delete(m.rows[c.Type], c.Key)
				continue
			}
			var v any
			if err := json.Unmarshal(c.Value, &v); err != nil {
				t.Fatal(err)
			}
			m.rows[c.Type][c.Key] = v
		case state.KindControl:
			if ev.Control == state.Reset {
				clear(m.rows)
			}
		default:
			m.rejects++
		}
	}
	return m
}

// assertSynced checks that the sink holds exactly the model's rows and that
// the stream's checkpoint counted every event and reject once.
func assertSynced(t *testing.T, db *sqlite.Sink, stream string, want model) {
	t.Helper()
	ctx := context.Background()
	types, err := db.Types(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, tt := range types {
		rows, err := db.Rows(ctx, tt.Table)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			var v any
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatal(err)
			}
			if got[tt.Type] == nil {
				got[tt.Type] = map[string]any{}
			}
			got[tt.Type][r.Key] = v
		}
	}
	for typ, rows := range want.rows {
		if len(rows) == 0 {
			delete(want.rows, typ)
		}
	}
	if !reflect.DeepEqual(got, want.rows) {
		t.Errorf("rows differ from the materialized stream:\n got %v\nwant %v", got, want.rows)
	}
	cp := checkpoint(t, db, stream)
	if cp.EventsApplied != want.events || cp.Rejects != want.rejects {
		t.Errorf("checkpoint counts events_applied=%d rejects=%d, want %d and %d", cp.EventsApplied, cp.Rejects, want.events, want.rejects)
	}
}

// checkpoint returns the stream's stored checkpoint.
func checkpoint(t *testing.T, db *sqlite.Sink, stream string) sink.Checkpoint {
	t.Helper()
	cps, err := db.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		if c.Stream == stream {
			return c
		}
	}
	t.Fatalf("no checkpoint of %s", stream)
	return sink.Checkpoint{}
}
