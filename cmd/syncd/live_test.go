package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/pgtest"
)

// liveRun is a `syncd run` (without --once) running in-process until the test
// stops it.
type liveRun struct {
	out    syncBuffer
	cancel context.CancelFunc
	done   chan int
	code   int
	ended  bool
	addr   string // the ops server's address, once known (startWithOps)
}

// startLive starts `syncd run` with environ. The run is cancelled (like a
// SIGTERM) when the test ends; its output is logged if the test failed.
func startLive(t *testing.T, environ []string) *liveRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &liveRun{cancel: cancel, done: make(chan int, 1)}
	// Each in-process run gets its own ops port so parallel tests never collide.
	environ = append(append([]string(nil), environ...), "SYNCD_HTTP_ADDR=127.0.0.1:0")
	go func() {
		env := &environment{environ: environ, stdout: &r.out, stderr: &r.out}
		r.done <- Main(ctx, env, []string{"run"})
	}()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("syncd output:\n%s", r.out.String())
		}
	})
	return r
}

// stop cancels the run and returns its exit status.
func (r *liveRun) stop(t *testing.T) int {
	t.Helper()
	if r.ended {
		return r.code
	}
	r.cancel()
	select {
	case r.code = <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("syncd run did not stop within 30s of its cancel:\n%s", r.out.String())
	}
	r.ended = true
	return r.code
}

// exited reports whether the run ended by itself, and its status.
func (r *liveRun) exited() (int, bool) {
	if r.ended {
		return r.code, true
	}
	select {
	case r.code = <-r.done:
		r.ended = true
		return r.code, true
	default:
		return 0, false
	}
}

// committedOffset returns a stream's committed next_offset, or "" when it
// cannot be read yet (no checkpoint or tables yet; SQLite busy migrating).
func (b *backend) committedOffset(t *testing.T, stream string) string {
	t.Helper()
	var off string
	if err := b.open(t).QueryRow(`SELECT next_offset FROM syncd_checkpoints WHERE stream = $1`, stream).Scan(&off); err != nil {
		return ""
	}
	return off
}

// waitCommitted waits until syncd committed the stream's current tail.
func waitCommitted(t *testing.T, srv *dstest.Server, b *backend, stream string, timeout time.Duration) {
	t.Helper()
	tail, err := srv.Tail(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, timeout, "the commit of "+stream+" at its tail "+tail, func() bool {
		return b.committedOffset(t, stream) == tail
	})
}

// appendModel appends events to the stream and to the model.
func appendModel(t *testing.T, srv *dstest.Server, m *model, stream string, events ...any) {
	t.Helper()
	appendAll(t, srv, stream, events)
	m.apply(t, stream, events...)
}

// assertExactlyOnce checks the tables against the model and that every change
// event was counted once in events_applied.
func assertExactlyOnce(t *testing.T, b *backend, m *model, stream string) {
	t.Helper()
	assertTables(t, b, m)
	if _, applied, _, _ := b.checkpoint(t, stream); applied != int64(m.changes) {
		t.Errorf("events_applied = %d, want %d (each change exactly once)", applied, m.changes)
	}
}

// sqliteBackend is a fresh SQLite file for one test.
func sqliteBackend(t *testing.T) *backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syncd.db")
	return &backend{name: "sqlite", url: "sqlite:" + path, owner: t}
}

// postgresBackend is a fresh Postgres schema for one test (skipped loudly
// when no Postgres answers, unless SYNCD_TEST_REQUIRE_POSTGRES=1).
func postgresBackend(t *testing.T) *backend {
	t.Helper()
	url, schema := pgtest.New(t)
	return &backend{name: "postgres", url: url, schema: schema, owner: t}
}
