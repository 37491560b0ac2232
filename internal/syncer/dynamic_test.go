package syncer

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStartStop runs streams given by a Source: Start starts a loop once,
// Stop stops it and waits, and Run stops what the Source left running.
func TestStartStop(t *testing.T) {
	f := newFixture(t, 200)
	f.opts.Once = false
	f.opts.Streams = nil
	started := make(chan struct{})
	f.opts.Source = func(ctx context.Context, s *Syncer) error {
		st := Stream{Name: "rec", URL: f.srv.url()}
		if err := s.Start(st); err != nil {
			return err
		}
		if err := s.Start(st); err != nil { // a second Start of the same name does nothing
			return err
		}
		close(started)
		waitFor(t, func() bool { st := s.Status(); return len(st) == 1 && st[0].Ready })
		s.Stop("rec")
		s.Stop("rec") // stopping a stopped stream does nothing
		if n := len(s.Status()); n != 0 {
			t.Errorf("%d streams in the status after Stop", n)
		}
		if err := s.Start(Stream{Name: "again", URL: f.srv.url()}); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(Stream{Name: "early", URL: f.srv.url()}); err == nil {
		t.Error("Start outside Run succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-started
	waitFor(t, func() bool { st := s.Status(); return len(st) == 1 && st[0].Name == "again" && st[0].Ready })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertSynced(t, f.db, "rec", f.model(t))
}

// TestNewChecksOptions refuses a syncer without a sink, without streams, or
// with a stream named twice.
func TestNewChecksOptions(t *testing.T) {
	db := openSQLite(t)
	for name, o := range map[string]Options{
		"no sink":    {Streams: []Stream{{Name: "a", URL: "http://x/a"}}},
		"no streams": {Sink: db},
		"twice":      {Sink: db, Streams: []Stream{{Name: "a", URL: "http://x/a"}, {Name: "a", URL: "http://x/b"}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestPruneTxIDs deletes txids older than the retention, at once and then
// periodically, until ctx ends.
func TestPruneTxIDs(t *testing.T) {
	f := newFixture(t, 200)
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	if rows, _ := f.db.TxIDs(t.Context(), "rec"); len(rows) == 0 {
		t.Fatal("no txids recorded to prune")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); PruneTxIDs(ctx, f.db, time.Nanosecond, slog.New(slog.DiscardHandler)) }()
	waitFor(t, func() bool { rows, _ := f.db.TxIDs(t.Context(), "rec"); return len(rows) == 0 })
	cancel()
	<-done
	PruneTxIDs(t.Context(), f.db, 0, nil) // no retention: returns at once
}

// TestPanicGoesToOnPanic: a panic in a stream's goroutine reaches OnPanic
// with its stack (cmd/syncd prints it redacted) instead of the runtime.
func TestPanicGoesToOnPanic(t *testing.T) {
	f := newFixture(t, 200)
	got := make(chan string, 1)
	f.opts.Validate = func(string, []byte) string { panic("validator broke: postgres://u:secret@h/db") }
	f.opts.OnPanic = func(v any, stack []byte) {
		got <- fmt.Sprint(v) + "\n" + string(stack)
		runtime.Goexit() // stands for cmd/syncd's exit
	}
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if !strings.Contains(p, "validator broke") || !strings.Contains(p, "syncer.(*streamLoop)") {
		t.Errorf("OnPanic got %q, want the panic value and the loop's stack", p)
	}
}
