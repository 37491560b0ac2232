package syncer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is one stream loop under test: the recorded stream behind a
// server, a real SQLite sink behind a fault injector, and the commits seen.
type fixture struct {
	srv    *streamServer
	db     *sqlite.Sink
	faults *faultySink
	opts   Options

	mu      sync.Mutex
	commits []Result
}

func newFixture(t *testing.T, chunk int) *fixture {
	t.Helper()
	f := &fixture{srv: newStreamServer(t, recorded(t), chunk), db: openSQLite(t)}
	f.faults = newFaultySink(f.db)
	f.opts = Options{
		Sink:          f.faults,
		Streams:       []Stream{{Name: "rec", URL: f.srv.url()}},
		Consumer:      consumer.Options{Live: consumer.LongPoll, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Once:          true,
		MaxBatchBytes: 64 << 20,
		RetryInitial:  time.Millisecond,
		RetryMax:      5 * time.Millisecond,
		OnCommit: func(r Result) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.commits = append(f.commits, r)
		},
	}
	return f
}

// run runs the syncer until it returns.
func (f *fixture) run(t *testing.T, ctx context.Context) error {
	t.Helper()
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.Run(ctx)
}

// start runs the syncer in the background until stop, which returns Run's
// error.
func (f *fixture) start(t *testing.T) (s *Syncer, stop func() error) {
	t.Helper()
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, func() error { cancel(); return <-done }
}

func (f *fixture) committed() []Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Result(nil), f.commits...)
}

func (f *fixture) model(t *testing.T) model {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	return materialize(t, f.srv.msgs)
}

// TestCatchUpCommitsOnceAtUpToDate reads the recorded stream over many
// responses (a chunked catch-up) and commits once, at the response that is
// up to date, with small batches written into the open transaction.
func TestCatchUpCommitsOnceAtUpToDate(t *testing.T) {
	for _, maxBatch := range []int{64 << 20, 256} {
		f := newFixture(t, 7)
		f.opts.MaxBatchBytes = maxBatch
		if err := f.run(t, t.Context()); err != nil {
			t.Fatal(err)
		}
		assertSynced(t, f.db, "rec", f.model(t))
		commits := f.committed()
		if len(commits) != 1 {
			t.Fatalf("max batch %d: %d commits, want 1 at the up-to-date response", maxBatch, len(commits))
		}
		c := commits[0]
		if !c.Checkpoint.UpToDate || c.Checkpoint.NextOffset != offset(len(f.srv.msgs)) {
			t.Errorf("commit at %+v, want the tail, up to date", c.Checkpoint)
		}
		if c.Events != f.model(t).events || len(c.TxIDs) == 0 || len(c.Tables) != 2 {
			t.Errorf("result %+v: want every event counted, txids and both tables", c)
		}
		if maxBatch == 256 && f.faults.called("write") < 3 {
			t.Errorf("%d writes into the transaction; a 256-byte batch limit should flush several times", f.faults.called("write"))
		}
	}
}

// TestFaultsRestartFromCheckpoint arms one database fault at each step of a
// transaction: the loop rolls back, reloads the checkpoint and reads again,
// and the tables end exactly as the stream says, nothing applied twice.
func TestFaultsRestartFromCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		op       string
		err      error
		maxBatch int
	}{
		{"begin", sink.ErrConflict, 64 << 20},
		{"write", sink.ErrConflict, 64 << 20},
		{"commit", sink.ErrConflict, 64 << 20},
		{"begin", errDisk, 64 << 20},
		{"write", errDisk, 64 << 20},
		{"commit", errDisk, 64 << 20},
		{"write", errDisk, 256}, // a background write fails
	} {
		t.Run(tc.op+"/"+tc.err.Error(), func(t *testing.T) {
			f := newFixture(t, 10)
			f.opts.MaxBatchBytes = tc.maxBatch
			reg := prometheus.NewRegistry()
			f.opts.Metrics = metrics.New(reg)
			f.faults.arm(tc.op, tc.err)
			if err := f.run(t, t.Context()); err != nil {
				t.Fatal(err)
			}
			if f.faults.fired(tc.op) != 1 {
				t.Fatalf("the %s fault did not fire", tc.op)
			}
			retries := counter(t, reg, "syncd_database_retries_total")
			if want := map[bool]float64{true: 1, false: 0}[tc.err == errDisk]; retries != want {
				t.Errorf("syncd_database_retries_total = %v, want %v", retries, want)
			}
			assertSynced(t, f.db, "rec", f.model(t))
		})
	}
}

// TestBrokenResponseRetriesFromCheckpoint truncates one body in the middle
// of a catch-up: the work read so far is discarded and the stream is read
// again from the checkpoint.
func TestBrokenResponseRetriesFromCheckpoint(t *testing.T) {
	f := newFixture(t, 10)
	f.srv.set(func(s *streamServer) { s.broken[offset(50)] = 1; s.failures[offset(20)] = 2 })
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	f.srv.set(func(s *streamServer) {
		if s.broken[offset(50)] != 0 || s.failures[offset(20)] != 0 {
			t.Error("the armed faults were not served")
		}
	})
	assertSynced(t, f.db, "rec", f.model(t))
}

// TestCatchupCommitBytes commits during a long catch-up at response
// boundaries, with up_to_date = false until the last.
func TestCatchupCommitBytes(t *testing.T) {
	f := newFixture(t, 10)
	f.opts.CatchupCommitBytes = 1000
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	commits := f.committed()
	if len(commits) < 3 {
		t.Fatalf("%d commits, want several during the catch-up", len(commits))
	}
	if n := f.faults.conflicts(); n != 0 {
		t.Errorf("%d checkpoint conflicts with no other writer: the loop lost track of its own commits", n)
	}
	for _, c := range commits[:len(commits)-1] {
		if c.Checkpoint.UpToDate {
			t.Errorf("progress commit at %s says up to date", c.Checkpoint.NextOffset)
		}
	}
	assertSynced(t, f.db, "rec", f.model(t))
}

// TestHaltOnInvalid stops the stream before the response that holds an
// invalid message, records why, and keeps the checkpoint before it.
func TestHaltOnInvalid(t *testing.T) {
	f := newFixture(t, 10)
	f.opts.OnInvalid = Halt
	err := f.run(t, t.Context())
	var he *HaltError
	if !errors.As(err, &he) {
		t.Fatalf("run: %v, want a *HaltError", err)
	}
	// Message 41 has no key: the response read from offset 40 holds it.
	if he.Offset != offset(40) || he.Position != 1 {
		t.Errorf("halt at offset %s position %d, want %s and 1", he.Offset, he.Position, offset(40))
	}
	cp := checkpoint(t, f.db, "rec")
	if cp.NextOffset != "-1" || cp.Halted == "" || cp.EventsApplied != 0 {
		t.Errorf("checkpoint %+v: want it still at -1 with the halt recorded", cp)
	}
}

// TestHaltInLaterResponse halts at a response after an earlier commit: the
// checkpoint stays at the start of the response holding the bad message.
func TestHaltInLaterResponse(t *testing.T) {
	f := newFixture(t, 10)
	f.opts.OnInvalid = Halt
	f.opts.CatchupCommitBytes = 1
	err := f.run(t, t.Context())
	var he *HaltError
	if !errors.As(err, &he) || he.Offset != offset(40) || he.Position != 1 {
		t.Fatalf("run: %v, want a halt at offset %s position 1", err, offset(40))
	}
	if cp := checkpoint(t, f.db, "rec"); cp.NextOffset != offset(40) {
		t.Errorf("checkpoint at %s, want %s: the response before the bad one committed", cp.NextOffset, offset(40))
	}
}

// TestShutdownMidTransaction cancels the loop at each step of a
// transaction: nothing is committed and the checkpoint stays where it was.
func TestShutdownMidTransaction(t *testing.T) {
	for _, op := range []string{"begin", "write", "commit"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t, 10)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f.faults.before = func(o string) {
				if o == op {
					cancel()
				}
			}
			if err := f.run(t, ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("run: %v, want context.Canceled", err)
			}
			if cp := checkpoint(t, f.db, "rec"); cp.NextOffset != "-1" || cp.EventsApplied != 0 {
				t.Errorf("checkpoint %+v after a shutdown before the first commit", cp)
			}
			// A restart picks up and ends exact.
			f.faults.before = nil
			if err := f.run(t, t.Context()); err != nil {
				t.Fatal(err)
			}
			assertSynced(t, f.db, "rec", f.model(t))
		})
	}
}

// checkingSink is a real sink that also checks changes (sink.ChangeChecker),
// refusing every one of type refuse.
type checkingSink struct {
	sink.Writer
	refuse string
}

func (c checkingSink) CheckChange(ch state.Change) string {
	if ch.Type == c.refuse {
		return "refused by the sink: " + ch.Type
	}
	return ""
}

// preparingSink is a real sink that also prepares tables
// (sink.TablePreparer): it records each type it is asked for, with the
// number of commits made by then.
type preparingSink struct {
	sink.Writer
	mu       sync.Mutex
	commits  *int
	prepared map[string][]int // type → commits made at each call
}

func (p *preparingSink) PrepareTable(_ context.Context, typ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prepared[typ] = append(p.prepared[typ], *p.commits)
	return nil
}

// The loop hands the sink each type once, as the catch-up meets it: before
// the commit that writes its rows.
func TestTablesPreparedBeforeCommit(t *testing.T) {
	f := newFixture(t, 10)
	commits := 0
	p := &preparingSink{Writer: f.db, commits: &commits, prepared: map[string][]int{}}
	f.opts.Sink = p
	onCommit := f.opts.OnCommit
	f.opts.OnCommit = func(r Result) {
		p.mu.Lock()
		commits++
		p.mu.Unlock()
		onCommit(r)
	}
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	want := f.model(t).rows
	if len(want) == 0 {
		t.Fatal("the recorded stream has no rows")
	}
	for typ := range want {
		if calls := p.prepared[typ]; !slices.Equal(calls, []int{0}) {
			t.Errorf("type %q prepared with %v commits made at each call, want once before the first commit", typ, calls)
		}
	}
	if commits == 0 {
		t.Fatal("no commit")
	}
}

// A sink that checks changes is asked about each one: a refused change is
// invalid input, handled by the stream's policy.
func TestSinkChecksChanges(t *testing.T) {
	f := newFixture(t, 10)
	var typ string
	for k := range f.model(t).rows {
		typ = k
		break
	}
	f.opts.Sink = checkingSink{Writer: f.db, refuse: typ}
	f.opts.OnInvalid = Halt
	var he *HaltError
	if err := f.run(t, t.Context()); !errors.As(err, &he) || he.Reason != "refused by the sink: "+typ {
		t.Fatalf("run: %v, want a halt with the sink's reason for type %q", err, typ)
	}
}
