package subscription

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// TestClientAgainstReferenceServer walks the control API of the pinned
// reference server: the wake stream created when missing, create and
// re-confirm, a 409 naming both configurations, NO_PENDING_WORK for streams
// linked at their tail, a claim after an append (with the wake event written),
// ALREADY_CLAIMED for a second worker, a heartbeat, FENCED for a stale
// generation, done, and release.
func TestClientAgainstReferenceServer(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	ctx := context.Background()
	if err := srv.Create(ctx, "c/rooms/old"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Append(ctx, "c/rooms/old", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Pattern: "c/rooms/*", WakeStream: "c-wake/sub", LeaseTTL: 2 * time.Second}
	c := NewClient(srv.URL, "sub", http.DefaultClient, nil)

	if _, err := srv.Tail(ctx, cfg.WakeStream); err == nil {
		t.Fatal("the wake stream exists before EnsureWakeStream")
	}
	for range 2 { // idempotent
		if err := c.EnsureWakeStream(ctx, cfg.WakeStream); err != nil {
			t.Fatal(err)
		}
	}
	wakeTail, err := srv.Tail(ctx, cfg.WakeStream)
	if err != nil {
		t.Fatalf("wake stream not created: %v", err)
	}

	info, err := c.Ensure(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Streams) != 1 || info.Streams[0].Path != "c/rooms/old" || info.Config() != cfg {
		t.Fatalf("created %+v", info)
	}
	if _, err := c.Ensure(ctx, cfg); err != nil {
		t.Fatalf("re-confirming the same configuration: %v", err)
	}
	other := cfg
	other.Pattern = "c/lobby/*"
	_, err = c.Ensure(ctx, other)
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrExists) {
		t.Fatalf("another configuration: %v, want a ConflictError", err)
	}
	for _, want := range []string{"pattern=c/rooms/*", "pattern=c/lobby/*", "pick another SYNCD_SUBSCRIPTION", "DELETE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict message lacks %q: %s", want, err)
		}
	}

	if _, err := c.Claim(ctx, "w1"); !errors.Is(err, ErrNoPendingWork) {
		t.Fatalf("claim with every stream linked at its tail: %v, want NO_PENDING_WORK", err)
	}
	if _, err := srv.Append(ctx, "c/rooms/new", map[string]any{"n": 2}); err == nil {
		t.Fatal("append to a missing stream succeeded")
	}
	if err := srv.Create(ctx, "c/rooms/new"); err != nil {
		t.Fatal(err)
	}
	tail, err := srv.Append(ctx, "c/rooms/new", map[string]any{"n": 2})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := srv.Tail(ctx, cfg.WakeStream); now == wakeTail {
		t.Fatal("no wake event written for an append to a new matching stream")
	}
	cl, err := c.Claim(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	var pending *Link
	for i, l := range cl.Streams {
		if l.HasPending {
			pending = &cl.Streams[i]
		}
	}
	if pending == nil || pending.Path != "c/rooms/new" || pending.AckedOffset != "-1" || pending.TailOffset != tail {
		t.Fatalf("claim streams %+v, want c/rooms/new pending from -1 to %s", cl.Streams, tail)
	}
	if _, err := c.Claim(ctx, "w2"); !errors.Is(err, ErrAlreadyClaimed) || !strings.Contains(err.Error(), "w1") {
		t.Fatalf("second claim: %v, want ALREADY_CLAIMED by w1", err)
	}
	if _, err := c.Ack(ctx, cl, nil, false); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	stale := cl
	stale.Generation--
	if _, err := c.Ack(ctx, stale, nil, false); !errors.Is(err, ErrFenced) {
		t.Fatalf("ack of a stale generation: %v, want FENCED", err)
	}
	if next, err := c.Ack(ctx, cl, []Ack{{Stream: "c/rooms/new", Offset: tail}}, true); err != nil || next {
		t.Fatalf("done: next_wake %t, %v; want no next wake", next, err)
	}
	if _, err := c.Claim(ctx, "w2"); !errors.Is(err, ErrNoPendingWork) {
		t.Fatalf("claim after everything was acked: %v, want NO_PENDING_WORK", err)
	}
	if _, err := srv.Append(ctx, "c/rooms/new", map[string]any{"n": 3}); err != nil {
		t.Fatal(err)
	}
	cl2, err := c.Claim(ctx, "w2")
	if err != nil || cl2.Generation <= cl.Generation {
		t.Fatalf("claim after a new append: %+v %v", cl2, err)
	}
	if err := c.Release(ctx, cl2); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := c.Ack(ctx, cl2, nil, false); err == nil {
		t.Fatal("ack after release accepted")
	}
}
