package subscription

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/sink"
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

// TestSchedulerHeartbeatKeepsTheClaim holds one catch-up for more than twice
// the lease TTL: the heartbeats keep the claim (another worker still gets
// ALREADY_CLAIMED after the TTL), and once the catch-up ends the offset is
// acked and the claim is given back with done.
func TestSchedulerHeartbeatKeepsTheClaim(t *testing.T) {
	const ttl = 2 * time.Second
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
	sy, err := syncer.New(syncer.Options{Sink: db, Source: func(ctx context.Context, _ *syncer.Syncer) error { <-ctx.Done(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	client := NewClient(srv.URL, "hb", http.DefaultClient, nil)
	sched := New(Options{Client: client, Config: Config{Pattern: "h/*", WakeStream: "h-wake", LeaseTTL: ttl},
		Worker: "w1", Checkpoints: db.Checkpoints, Reader: consumer.Options{Live: consumer.LongPoll}})
	if err := sched.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := func(ctx context.Context, st syncer.Stream) (sink.Checkpoint, error) {
		if st.Name == "h/slow" {
			once.Do(func() { close(entered) })
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return sy.CatchUp(ctx, st)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = sched.Run(runCtx, slow) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	// The first round (which backfills linked streams without the claim)
	// must be over before the stream appears: the slow catch-up below is
	// then one of a claimed round.
	waitUntil(t, "the first round done", func() bool { return sched.Status().Ready })

	if err := srv.Create(ctx, "h/slow"); err != nil {
		t.Fatal(err)
	}
	tail, err := srv.Append(ctx, "h/slow", map[string]any{"type": "t", "key": "k", "value": map[string]any{"n": 1}, "headers": map[string]any{"operation": "insert"}})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	if !sched.Status().Claimed {
		t.Fatal("catching up a pending stream without holding the claim")
	}
	time.Sleep(2*ttl + ttl/2) // the lease would have expired twice without heartbeats
	if _, err := client.Claim(ctx, "w2"); !errors.Is(err, ErrAlreadyClaimed) {
		t.Fatalf("claim by another worker after %s: %v, want ALREADY_CLAIMED (heartbeats extend the lease)", 2*ttl+ttl/2, err)
	}
	close(release)
	waitUntil(t, "the slow stream acked at its tail and the claim given back", func() bool {
		info, err := client.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := sched.Status()
		return len(info.Streams) == 1 && info.Streams[0].AckedOffset == tail && !st.Claimed && st.Acks >= 1
	})
	if _, err := client.Claim(ctx, "w2"); !errors.Is(err, ErrNoPendingWork) {
		t.Fatalf("claim after done: %v, want NO_PENDING_WORK", err)
	}
}
