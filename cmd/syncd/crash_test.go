package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/goleak"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// TestMain removes the syncd binary the crash tests build, and fails the
// run if a goroutine of an in-process syncd outlived its test. Idle
// keep-alive connections of the shared HTTP transports are not leaks.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// syncdBinary builds the real syncd binary once per test process.
func syncdBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "syncd-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "syncd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a syncd process.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startProc(t *testing.T, environ []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(syncdBinary(t), args...)
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Env = append(os.Environ(), environ...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// appendLog records what was appended to a stream, with the offset after
// each append, so the state at any committed offset can be computed.
type appendLog struct {
	name    string
	offsets []string
	batches [][]any
	model   *model // the state after the first applied appends
	applied int
}

func (a *appendLog) add(t *testing.T, srv *dstest.Server, events []any) {
	t.Helper()
	if err := a.tryAdd(srv, events); err != nil {
		t.Fatal(err)
	}
}

// tryAdd appends events in POSTs of at most 1,000.
func (a *appendLog) tryAdd(srv *dstest.Server, events []any) error {
	for len(events) > 0 {
		n := min(1000, len(events))
		off, err := srv.Append(context.Background(), a.name, events[:n]...)
		if err != nil {
			return err
		}
		a.offsets = append(a.offsets, off)
		a.batches = append(a.batches, events[:n])
		events = events[n:]
	}
	return nil
}

// modelAt is the expected state after every append up to offset (offsets
// compare lexicographically); ok is false when offset is no append boundary.
// Checkpoints never move back, so the model only ever advances: each call
// applies just the appends since the previous one.
func (a *appendLog) modelAt(t *testing.T, offset string) (m *model, ok bool) {
	t.Helper()
	if a.model == nil {
		a.model = newModel()
	}
	if offset == "-1" {
		return a.model, a.applied == 0
	}
	for a.applied < len(a.offsets) && a.offsets[a.applied] <= offset {
		a.model.apply(t, a.name, a.batches[a.applied]...)
		a.applied++
	}
	return a.model, a.applied > 0 && a.offsets[a.applied-1] == offset
}

// assertConsistent checks that the committed rows are exactly the state of
// the stream at the committed checkpoint: no partial transaction is visible.
func assertConsistent(t *testing.T, b *backend, log *appendLog) {
	t.Helper()
	offset, applied, _, _ := b.checkpoint(t, log.name)
	m, ok := log.modelAt(t, offset)
	if !ok {
		t.Fatalf("checkpoint %s is not the end of any append", offset)
	}
	assertTables(t, b, m)
	if applied != int64(m.changes) {
		t.Errorf("at %s: events_applied = %d, want %d", offset, applied, m.changes)
	}
}

// TestCrashSafety kills the real syncd binary with SIGKILL at random moments
// during a 200,000-event catch-up and during live tailing, restarting it each
// time: after every kill the tables are exactly the state at the committed
// checkpoint, and at the end every change was applied exactly once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a real process repeatedly during a 200,000-event catch-up")
	}
	crashSafety(t, crashOptions{prefix: "crash-", first: 120_000, second: 80_000})
}

// crashOptions vary the crash test: the stream's name prefix, the sizes of
// the two catch-ups, more settings, and a check run after every kill (with
// syncd stopped) besides the tables'.
type crashOptions struct {
	prefix        string
	first, second int
	env           []string
	check         func(t *testing.T, b *backend, stream string)
}

func crashSafety(t *testing.T, o crashOptions) {
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		name := o.prefix + b.name
		if err := srv.Create(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		log := &appendLog{name: name}
		log.add(t, srv, workload(7, o.first, 50_000))
		env := b.env(append([]string{"SYNCD_STREAMS=" + srv.StreamURL(name), "SYNCD_MAX_BATCH_BYTES=4194304", "SYNCD_LOG_LEVEL=info"}, o.env...)...)
		consistent := func(t *testing.T, b *backend, log *appendLog) {
			t.Helper()
			awaitLastTx(t, b, name)
			assertConsistent(t, b, log)
			if o.check != nil {
				o.check(t, b, name)
			}
		}
		r := rand.New(rand.NewPCG(uint64(len(b.name)), 42))
		kill := func(p *proc, max time.Duration) {
			time.Sleep(time.Duration(r.Int64N(int64(max)))) // a random moment, not a synchronisation
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}

		// Kills during the first catch-up, before anything is committed
		// (flushes into the open transaction included).
		for range 2 {
			p := startProc(t, env, "run")
			waitFor(t, p, "following stream")
			kill(p, 1500*time.Millisecond)
			consistent(t, b, log)
		}
		// Commit part of the stream, then kill during the catch-up of the rest.
		if code, out := runProc(t, env, "run", "--once"); code != 0 {
			t.Fatalf("run --once: %d\n%s", code, out)
		}
		log.add(t, srv, workload(8, o.second, 50_000))
		for i := range 2 {
			p := startProc(t, env, "run")
			waitFor(t, p, "following stream")
			kill(p, 1500*time.Millisecond)
			consistent(t, b, log)
			t.Logf("catch-up kill %d: checkpoint %s", i, firstOf(b.checkpoint(t, name)))
		}

		// Kills while tailing live with appends in flight.
		for i := range 3 {
			p := startProc(t, env, "run")
			waitFor(t, p, "following stream")
			stop := make(chan struct{})
			appended := make(chan struct{})
			var appendErr error
			go func() {
				defer close(appended)
				for j := 0; appendErr == nil; j++ {
					select {
					case <-stop:
						return
					default:
					}
					appendErr = log.tryAdd(srv, workload(uint64(100+10*i+j), 50, 2000))
				}
			}()
			kill(p, 2*time.Second)
			close(stop)
			<-appended
			if appendErr != nil {
				t.Fatal(appendErr)
			}
			consistent(t, b, log)
		}

		// SIGTERM: exits 0 within the shutdown timeout, no partial transaction.
		p := startProc(t, append(env, "SYNCD_SHUTDOWN_TIMEOUT=10s"), "run")
		waitFor(t, p, "following stream")
		log.add(t, srv, workload(999, 3000, 2000))
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("SIGTERM: %v\n%s", err, p.out)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no exit within the shutdown timeout after SIGTERM\n%s", p.out)
		}
		consistent(t, b, log)

		// Finally catch up: exact, each change applied once.
		code, out := runProc(t, env, "run", "--once")
		if code != 0 {
			t.Fatalf("run --once: %d\n%s", code, out)
		}
		tail, _ := srv.Tail(context.Background(), name)
		if off, _, _, _ := b.checkpoint(t, name); off != tail {
			t.Fatalf("final checkpoint %s, tail %s", off, tail)
		}
		consistent(t, b, log)
	})
}

// awaitLastTx waits until the transaction a killed syncd left open on
// Postgres has ended: the server may still be committing it after the
// process died, and a check that read the checkpoint before that commit
// and the tables after it would see them disagree. The transaction holds
// the checkpoint row lock from Begin to its end, so taking that lock
// waits exactly for it. SQLite's locks die with the process.
func awaitLastTx(t *testing.T, b *backend, stream string) {
	t.Helper()
	if b.name != "postgres" {
		return
	}
	tx, err := b.open(t).Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRow(`SELECT 1 FROM syncd_checkpoints WHERE stream = $1 FOR UPDATE`, stream).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("wait for the killed syncd's transaction: %v", err)
	}
}

func waitFor(t *testing.T, p *proc, text string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%q in syncd's log", text), func() bool {
		return strings.Contains(p.out.String(), text)
	})
}

func runProc(t *testing.T, environ []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(syncdBinary(t), args...)
	cmd.Env = append(os.Environ(), environ...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

func firstOf(s string, _, _ int64, _ bool) string { return s }
