package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/sink"
)

// workload returns n change events over keys of three types, with updates,
// deletes and upserts, deterministic for a seed.
func workload(seed uint64, n, keys int) []any {
	r := rand.New(rand.NewPCG(seed, seed))
	types := []string{"user", "room", "message"}
	out := make([]any, 0, n)
	for i := range n {
		typ := types[r.IntN(len(types))]
		key := fmt.Sprintf("k%05d", r.IntN(keys))
		op := []string{"insert", "update", "upsert", "upsert", "delete"}[r.IntN(5)]
		out = append(out, change(typ, key, op, map[string]any{"i": i, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}))
	}
	return out
}

func appendAll(t *testing.T, srv *dstest.Server, name string, events []any) {
	t.Helper()
	for len(events) > 0 {
		n := min(1000, len(events))
		if _, err := srv.Append(context.Background(), name, events[:n]...); err != nil {
			t.Fatal(err)
		}
		events = events[n:]
	}
}

// TestRestartBetweenCommits stops a live syncd after it committed, appends
// more, and restarts: the final state is exact and nothing is applied twice.
func TestRestartBetweenCommits(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		for _, live := range []string{"long-poll", "sse"} {
			t.Run(live, func(t *testing.T) {
				name := "restart-" + live + "-" + b.name
				if err := srv.Create(context.Background(), name); err != nil {
					t.Fatal(err)
				}
				env := b.env("SYNCD_STREAMS="+srv.StreamURL(name), "SYNCD_LIVE="+live)
				m := newModel()
				first := workload(1, 2000, 300)
				appendAll(t, srv, name, first)
				m.apply(t, name, first...)

				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan int, 1)
				var out string
				go func() { var code int; code, out = syncdRun(ctx, env, "run"); done <- code }()
				t.Cleanup(func() {
					if t.Failed() {
						cancel()
						<-done
						t.Logf("syncd output:\n%s", out)
					}
				})
				// Live appends while it runs, then wait for their commit.
				second := workload(2, 500, 300)
				appendAll(t, srv, name, second)
				m.apply(t, name, second...)
				tail, err := srv.Tail(context.Background(), name)
				if err != nil {
					t.Fatal(err)
				}
				eventually(t, 30*time.Second, "the live commit of the tail", func() bool {
					var off string
					err := b.open(t).QueryRow(`SELECT next_offset FROM syncd_checkpoints WHERE stream = `+b.param(), name).Scan(&off)
					return err == nil && off == tail
				})
				cancel()
				if code := <-done; code != 0 {
					t.Fatalf("syncd run exited %d after SIGTERM-like cancel", code)
				}

				third := append(workload(3, 1000, 300), control("reset"))
				third = append(third, workload(4, 200, 50)...)
				appendAll(t, srv, name, third)
				m.apply(t, name, third...)
				runOnce(t, env)
				assertTables(t, b, m)
				if _, applied, _, _ := b.checkpoint(t, name); applied != int64(m.changes) {
					t.Errorf("events_applied = %d, want %d (each change exactly once)", applied, m.changes)
				}
			})
		}
	})
}

// TestCancelMidCatchUp cancels syncd after it has written part of a long
// catch-up into its open transaction (flushed past SYNCD_MAX_BATCH_BYTES, not
// committed). The restart must find none of it and end exact.
func TestCancelMidCatchUp(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long catch-up")
	}
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		name := "midcatchup-" + b.name
		if err := srv.Create(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		events := workload(5, 30000, 20000)
		appendAll(t, srv, name, events)
		m.apply(t, name, events...)
		env := b.env("SYNCD_STREAMS="+srv.StreamURL(name), "SYNCD_MAX_BATCH_BYTES=1048576")

		ctx, cancel := context.WithCancel(context.Background())
		var writes atomic.Int32
		wrap := func(s sink.Sink) sink.Sink {
			return &observedSink{Sink: s, onWrite: func() {
				if writes.Add(1) == 2 { // two flushes into the open transaction, then the "crash"
					cancel()
				}
			}}
		}
		code, out := syncdRunWrapped(ctx, env, wrap, "run", "--once")
		if code == 0 {
			t.Fatalf("interrupted run --once exited 0:\n%s", out)
		}
		if writes.Load() < 2 {
			t.Fatalf("the run was not interrupted mid-catch-up (writes=%d):\n%s", writes.Load(), out)
		}
		if got := b.tables(t); len(got) != 0 {
			n := 0
			for _, keys := range got {
				n += len(keys)
			}
			if n != 0 {
				t.Fatalf("%d rows visible after an interrupted first catch-up; want none", n)
			}
		}
		runOnce(t, env)
		assertTables(t, b, m)
		if _, applied, _, _ := b.checkpoint(t, name); applied != int64(m.changes) {
			t.Errorf("events_applied = %d, want %d", applied, m.changes)
		}
	})
}

// observedSink is the real sink with a callback on every Tx.Write.
type observedSink struct {
	sink.Sink
	onWrite func()
}

func (s *observedSink) Begin(ctx context.Context, stream, expected string) (sink.Tx, error) {
	tx, err := s.Sink.Begin(ctx, stream, expected)
	if err != nil {
		return nil, err
	}
	return &observedTx{Tx: tx, onWrite: s.onWrite}, nil
}

type observedTx struct {
	sink.Tx
	onWrite func()
}

func (tx *observedTx) Write(ctx context.Context, b *sink.Batch) error {
	err := tx.Tx.Write(ctx, b)
	tx.onWrite()
	return err
}
