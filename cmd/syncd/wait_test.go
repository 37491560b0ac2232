package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/sink"
)

// deadPort returns a loopback address where nothing listens (a port the
// kernel just handed out and that was closed again).
func deadPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startProxy listens on addr and forwards every connection to target,
// until the test ends.
func startProxy(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(out, in); out.Close() })
			wg.Go(func() { _, _ = io.Copy(in, out); in.Close() })
		}
	})
}

// withHost returns the database URL u pointing at addr instead.
func withHost(t *testing.T, u, addr string) (string, string) {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	target := parsed.Host
	parsed.Host = addr
	return parsed.String(), target
}

// TestDatabaseComesUpAfterSyncd: syncd starts while nothing listens at its
// Postgres address; it waits (/healthz 200, /readyz 503 saying why), and
// once a proxy to the real Postgres opens that address it migrates and
// syncs the stream to exactly its rows.
func TestDatabaseComesUpAfterSyncd(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	b := postgresBackend(t)
	ctx := context.Background()
	name := "late-db"
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	m := newModel()
	appendModel(t, srv, m, name, workload(21, 200, 40)...)
	addr := deadPort(t)
	lateURL, target := withHost(t, b.url, addr)
	env := append(b.env("SYNCD_STREAMS="+srv.StreamURL(name)), "SYNCD_DATABASE_URL="+lateURL)
	r := startWithOps(t, env)

	eventually(t, 20*time.Second, "a logged wait for the database", func() bool {
		return strings.Contains(r.out.String(), "waiting for the database")
	})
	if code, _ := r.get(t, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while waiting, want 200", code)
	}
	code, body := r.get(t, "/readyz")
	if code != 503 || !strings.Contains(body, "waiting for the database: ") {
		t.Errorf("/readyz while waiting = %d %s; want 503 with the reason", code, body)
	}

	startProxy(t, addr, target)
	eventually(t, 30*time.Second, "/readyz 200 once the database is up", func() bool {
		code, _ := r.get(t, "/readyz")
		return code == 200
	})
	waitCommitted(t, srv, b, name, 30*time.Second)
	assertTables(t, b, m)
	if _, applied, _, _ := b.checkpoint(t, name); applied != int64(m.changes) {
		t.Errorf("events_applied = %d, want %d", applied, m.changes)
	}
}

// TestDBWaitBoundsTheWait: past SYNCD_DB_WAIT syncd exits non-zero naming
// the variable (run and migrate).
func TestDBWaitBoundsTheWait(t *testing.T) {
	t.Parallel()
	dead := "postgres://postgres@" + deadPort(t) + "/postgres?sslmode=disable"
	for _, args := range [][]string{{"run"}, {"migrate"}} {
		env := []string{"SYNCD_STREAMS=http://127.0.0.1:1/v1/stream/s", "SYNCD_DATABASE_URL=" + dead, "SYNCD_DB_WAIT=1s", "SYNCD_HTTP_ADDR=", "SYNCD_LOG_LEVEL=warn"}
		code, out := syncdRun(context.Background(), env, args...)
		if code == 0 || !strings.Contains(out, "SYNCD_DB_WAIT=1s") || !strings.Contains(out, "waiting for the database") {
			t.Errorf("%v: exit %d, output:\n%s\nwant non-zero naming SYNCD_DB_WAIT after a logged wait", args, code, out)
		}
	}
}

// TestSIGTERMWhileWaitingForTheDatabase: the real binary, waiting for a
// database that never comes, exits 0 at once on SIGTERM.
func TestSIGTERMWhileWaitingForTheDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	dead := "postgres://postgres@" + deadPort(t) + "/postgres?sslmode=disable"
	p := startProc(t, []string{"SYNCD_STREAMS=http://127.0.0.1:1/v1/stream/s", "SYNCD_DATABASE_URL=" + dead, "SYNCD_HTTP_ADDR=", "SYNCD_LOG_FORMAT=text"}, "run")
	waitFor(t, p, "waiting for the database")
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee interface{ ExitCode() int }
		if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 0) {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.out)
		}
		if !strings.Contains(p.out.String(), "stopped while waiting for the database") {
			t.Errorf("no log of the stop:\n%s", p.out)
		}
	case <-time.After(30 * time.Second): // a guard against a hang, not a measurement
		t.Fatalf("no exit after SIGTERM while waiting for the database:\n%s", p.out)
	}
}

// failFirstMigrate is a sink whose first Migrate applies the migrations
// and then reports a dropped connection, as a migration cut off midway does.
type failFirstMigrate struct {
	sink.Sink
	calls *atomic.Int32
}

func (f failFirstMigrate) Migrate(ctx context.Context) error {
	err := f.Sink.Migrate(ctx)
	if f.calls.Add(1) == 1 && err == nil {
		return errors.New("partial migration error: conn closed")
	}
	return err
}

// TestMigrateFailureIsRetried: a Migrate that fails at startup (a dropped
// connection) no longer ends the run: syncd reopens, migrates again and
// syncs the stream to exactly its rows.
func TestMigrateFailureIsRetried(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackend(t, func(t *testing.T, b *backend) {
		name := "migrate-retry-" + b.name
		if err := srv.Create(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		appendModel(t, srv, m, name, workload(5, 100, 30)...)
		var calls atomic.Int32
		wrap := func(s sink.Sink) sink.Sink { return failFirstMigrate{s, &calls} }
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		code, out := syncdRunWrapped(ctx, b.env("SYNCD_STREAMS="+srv.StreamURL(name)), wrap, "run", "--once")
		if code != 0 || calls.Load() != 2 || !strings.Contains(out, "conn closed") {
			t.Fatalf("exit %d after %d Migrate calls; want 0 after 2, with the failure logged:\n%s", code, calls.Load(), out)
		}
		assertTables(t, b, m)
	})
}
