package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/dstest"
)

// faultCase is one fault of the reference server's /_test/inject-error.
type faultCase struct {
	name  string
	fault dstest.Fault
	// fails: the faulted request errors, so syncd must log a retry.
	fails bool
	// liveLongPollOnly: the server applies the fault to catch-up and
	// long-poll bodies only (truncation and corruption are not applied to SSE
	// events), so it is injected live only in long-poll mode.
	liveLongPollOnly bool
}

func faultCases() []faultCase {
	return []faultCase{
		{name: "503-burst", fault: dstest.Fault{Status: 503, Count: 3}, fails: true},
		{name: "429-retry-after", fault: dstest.Fault{Status: 429, RetryAfter: 1}, fails: true},
		{name: "drop-connection", fault: dstest.Fault{DropConnection: true, Count: 2}, fails: true},
		{name: "truncate-body", fault: dstest.Fault{TruncateBodyBytes: 40}, fails: true, liveLongPollOnly: true},
		{name: "corrupt-body", fault: dstest.Fault{CorruptBody: true}, fails: true, liveLongPollOnly: true},
		{name: "delay", fault: dstest.Fault{DelayMs: 700, JitterMs: 100}},
		{name: "inject-sse-event", fault: dstest.Fault{InjectSSEEvent: &dstest.SSEEvent{EventType: "bogus", Data: `{"not":"a control"}`}}},
	}
}

// liveServers starts one reference server per live mode. Long-poll gets a
// short server timeout, so polls turn over quickly. SSE gets a keep-alive
// (5 s) longer than syncd's idle timeout (set to 1 s by liveEnv), so syncd
// drops the silent connection and reconnects about every second: each
// reconnect is a new request that a fault injected live can hit.
func liveServers(t *testing.T) map[string]*dstest.Server {
	t.Helper()
	return map[string]*dstest.Server{
		"long-poll": dstest.StartT(t, dstest.Options{LongPollTimeout: 2 * time.Second}),
		"sse":       dstest.StartT(t, dstest.Options{LongPollTimeout: 5 * time.Second}),
	}
}

func liveEnv(b *backend, mode string, extra ...string) []string {
	env := b.env("SYNCD_LIVE=" + mode)
	if mode == "sse" {
		env = append(env, "SYNCD_SSE_IDLE_TIMEOUT=1s")
	}
	return append(env, extra...)
}

// TestFaultsWhileTailing injects every fault kind twice: into the first
// catch-up read (injected before syncd starts) and into a live read (long-poll
// or an SSE reconnect). For each, the final tables equal the model and every
// change event is applied exactly once.
func TestFaultsWhileTailing(t *testing.T) {
	t.Parallel()
	servers := liveServers(t)
	for _, mode := range []string{"long-poll", "sse"} {
		srv := servers[mode]
		for _, fc := range faultCases() {
			t.Run(mode+"/"+fc.name, func(t *testing.T) {
				t.Parallel()
				b := sqliteBackend(t)
				runFaultCase(t, srv, b, mode, fc)
			})
		}
	}
	// Postgres for the faults that break reads the most.
	for _, mode := range []string{"long-poll", "sse"} {
		srv := servers[mode]
		for _, fc := range faultCases()[:3] {
			t.Run("postgres/"+mode+"/"+fc.name, func(t *testing.T) {
				t.Parallel()
				b := postgresBackend(t)
				runFaultCase(t, srv, b, mode, fc)
			})
		}
	}
}

func runFaultCase(t *testing.T, srv *dstest.Server, b *backend, mode string, fc faultCase) {
	ctx := context.Background()
	name := fmt.Sprintf("fault-%s-%s-%s", b.name, mode, fc.name)
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	inject := func() {
		t.Helper()
		f := fc.fault
		f.Path = "/v1/stream/" + name
		f.Method = "GET" // appends are never faulted
		if err := srv.Inject(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	m := newModel()
	appendModel(t, srv, m, name, workload(11, 300, 80)...)

	// 1. The first catch-up read meets the fault.
	inject()
	run := startLive(t, liveEnv(b, mode, "SYNCD_STREAMS="+srv.StreamURL(name)))
	waitCommitted(t, srv, b, name, 30*time.Second)
	if fc.fails && !strings.Contains(run.out.String(), "retrying") {
		t.Errorf("the fault did not make syncd retry; output:\n%s", run.out.String())
	}

	// 2. A live read meets it. Long-poll: the poll after the one in flight.
	// SSE: the next reconnect, after syncd dropped the silent connection;
	// after two such drops, the reconnect between them has met the fault.
	liveFault := mode == "long-poll" || !fc.liveLongPollOnly
	mark := len(run.out.String())
	if liveFault {
		inject()
	}
	if liveFault && mode == "sse" {
		eventually(t, 30*time.Second, "two idle SSE reconnects", func() bool {
			return strings.Count(run.out.String()[mark:], ErrIdleText) >= 2
		})
	}
	for i := range 3 {
		appendModel(t, srv, m, name, workload(uint64(20+i), 40, 80)...)
		waitCommitted(t, srv, b, name, 30*time.Second)
	}
	// Events spread over time, so that the live fault finds data in flight.
	for i := range 5 {
		appendModel(t, srv, m, name, change("user", fmt.Sprintf("late-%d", i), "upsert", map[string]any{"i": i}))
		waitCommitted(t, srv, b, name, 30*time.Second)
	}
	if code, ended := run.exited(); ended {
		t.Fatalf("syncd exited %d while tailing", code)
	}
	assertExactlyOnce(t, b, m, name)
	if liveFault && fc.fails && faultRetries(run.out.String()[mark:]) == 0 {
		t.Errorf("the live fault did not make syncd retry; output after it:\n%s", run.out.String()[mark:])
	}
}

// ErrIdleText is how the log names a connection dropped for silence.
var ErrIdleText = consumer.ErrIdle.Error()

// faultRetries counts the retries logged for other reasons than silence.
func faultRetries(out string) int {
	n := 0
	for line := range strings.Lines(out) {
		if strings.Contains(line, "retrying") && !strings.Contains(line, ErrIdleText) {
			n++
		}
	}
	return n
}

// TestServerRestartWhileTailing restarts a file-backed reference server on
// the same port while syncd tails it in both live modes (one syncd each, both
// through the same restart); appends before and after it all arrive, once.
func TestServerRestartWhileTailing(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{DataDir: t.TempDir(), LongPollTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	type tailer struct {
		mode string
		b    *backend
		m    *model
		name string
		run  *liveRun
	}
	var tailers []*tailer
	for _, mode := range []string{"long-poll", "sse"} {
		tl := &tailer{mode: mode, b: sqliteBackend(t), m: newModel(), name: "restart-live-" + mode}
		if err := srv.Create(ctx, tl.name); err != nil {
			t.Fatal(err)
		}
		appendModel(t, srv, tl.m, tl.name, workload(31, 500, 100)...)
		tl.run = startLive(t, tl.b.env("SYNCD_LIVE="+mode, "SYNCD_STREAMS="+srv.StreamURL(tl.name)))
		tailers = append(tailers, tl)
	}
	for _, tl := range tailers {
		waitCommitted(t, srv, tl.b, tl.name, 30*time.Second)
		appendModel(t, srv, tl.m, tl.name, workload(32, 100, 100)...)
		waitCommitted(t, srv, tl.b, tl.name, 30*time.Second)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.Restart(rctx); err != nil {
		t.Fatalf("restart reference server: %v", err)
	}
	for _, tl := range tailers {
		appendModel(t, srv, tl.m, tl.name, workload(33, 200, 100)...)
	}
	for _, tl := range tailers {
		waitCommitted(t, srv, tl.b, tl.name, 60*time.Second)
		if code, ended := tl.run.exited(); ended {
			t.Fatalf("%s: syncd exited %d across the restart", tl.mode, code)
		}
		assertExactlyOnce(t, tl.b, tl.m, tl.name)
	}
}
