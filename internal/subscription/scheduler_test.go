package subscription

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/syncer"
)

// TestSchedulerSkipsAndQuietsAFailedStream runs the scheduler with a real
// syncer and SQLite sink: a stream that halts (an invalid message under the
// halt policy) is counted as failed and acked at its tail, so the server
// stops waking for it, while the other streams keep syncing.
func TestSchedulerSkipsAndQuietsAFailedStream(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	ctx := context.Background()
	db, err := sqlite.New(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	sy, err := syncer.New(syncer.Options{Sink: db, OnInvalid: syncer.Halt,
		Source: func(ctx context.Context, _ *syncer.Syncer) error { <-ctx.Done(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	client := NewClient(srv.URL, "quiet", http.DefaultClient, nil)
	sched := New(Options{Client: client, Config: Config{Pattern: "q/*", WakeStream: "q-wake", LeaseTTL: 2 * time.Second},
		Worker: "w", Checkpoints: db.Checkpoints, Reader: consumer.Options{Live: consumer.LongPoll}})
	if err := sched.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sched.Run(runCtx, sy.CatchUp) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	for _, name := range []string{"q/good", "q/bad"} {
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Append(ctx, "q/bad", map[string]any{"not": "an event"}); err != nil {
		t.Fatal(err)
	}
	badTail, _ := srv.Tail(ctx, "q/bad")
	goodTail, err := srv.Append(ctx, "q/good", map[string]any{"type": "t", "key": "k", "value": map[string]any{"n": 1}, "headers": map[string]any{"operation": "insert"}})
	if err != nil {
		t.Fatal(err)
	}
	offsetOf := func(stream string) string {
		cps, err := db.Checkpoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cps {
			if c.Stream == stream {
				return c.NextOffset
			}
		}
		return ""
	}
	waitUntil(t, "the good stream synced and the bad one failed", func() bool {
		return offsetOf("q/good") == goodTail && sched.Status().Failed == 1
	})
	waitUntil(t, "the failed stream acked at its tail (no more wakes for it)", func() bool {
		info, err := client.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range info.Streams {
			if l.Path == "q/bad" {
				return l.AckedOffset == badTail
			}
		}
		return false
	})
	if committed(offsetOf("q/bad")) {
		t.Fatalf("the halted stream committed %s", offsetOf("q/bad"))
	}
	goodTail, err = srv.Append(ctx, "q/good", map[string]any{"type": "t", "key": "k2", "value": map[string]any{"n": 2}, "headers": map[string]any{"operation": "insert"}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the good stream to keep syncing", func() bool { return offsetOf("q/good") == goodTail })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
