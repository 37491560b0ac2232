package syncer

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logRecorder keeps every log record's message and attributes.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(&recordHandler{r: r}) }

// count returns how many lines hold every one of parts.
func (r *logRecorder) count(parts ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for _, l := range r.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

type recordHandler struct {
	r     *logRecorder
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &recordHandler{r: h.r, attrs: append(append([]slog.Attr(nil), h.attrs...), a...)}
}
func (h *recordHandler) WithGroup(string) slog.Handler { return h }
func (h *recordHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.String())
	}
	rec.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.r.mu.Lock()
	h.r.lines = append(h.r.lines, b.String())
	h.r.mu.Unlock()
	return nil
}

// TestCaughtUpLogged: every catch-up, however short, ends with one
// "caught up" line saying how much it read.
func TestCaughtUpLogged(t *testing.T) {
	f := newFixture(t, 10)
	var logs logRecorder
	f.opts.Logger = logs.logger()
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("caught up", "stream=rec", "messages=162", "bytes="); n != 1 {
		t.Errorf("%d 'caught up' lines with the message count, want 1:\n%s", n, strings.Join(logs.lines, "\n"))
	}
}

// TestShutdownSaysWhatWasRolledBack: a shutdown in the middle of a
// catch-up logs how many events were rolled back and where it resumes.
func TestShutdownSaysWhatWasRolledBack(t *testing.T) {
	f := newFixture(t, 10)
	var logs logRecorder
	f.opts.Logger = logs.logger()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.faults.before = func(op string) {
		if op == "commit" {
			cancel()
		}
	}
	if err := f.run(t, ctx); err == nil {
		t.Fatal("run survived its cancellation")
	}
	if n := logs.count("shutting down", "uncommitted_events=", "resume_offset=-1"); n != 1 {
		t.Errorf("%d shutdown lines naming the rolled-back events and the resume offset, want 1:\n%s", n, strings.Join(logs.lines, "\n"))
	}
}

// TestMissingStreamAnnouncedOnce: waiting for a stream that does not exist
// yet does not repeat "following stream" on every check.
func TestMissingStreamAnnouncedOnce(t *testing.T) {
	f := newFixture(t, 50)
	var logs logRecorder
	f.opts.Logger = logs.logger()
	f.opts.Once = false
	f.srv.set(func(s *streamServer) { s.missing = true })
	s, stop := f.start(t)
	waitFor(t, func() bool { return requests(f) >= 5 })
	f.srv.set(func(s *streamServer) { s.missing = false })
	waitFor(t, func() bool { return len(s.Status()) == 1 && s.Status()[0].Ready })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("following stream"); n != 1 {
		t.Errorf("%d 'following stream' lines over %d checks, want 1", n, requests(f))
	}
	if n := logs.count("stream exists now"); n != 1 {
		t.Errorf("%d 'stream exists now' lines, want 1", n)
	}
}

// TestResetWhileRunning: `syncd reset` of a live stream deletes its rows
// and checkpoint; the running loop says it was a reset (not another
// writer) and reads the stream again from the start, exactly once.
func TestResetWhileRunning(t *testing.T) {
	f := newFixture(t, 200)
	var logs logRecorder
	f.opts.Logger = logs.logger()
	f.opts.Once = false
	_, stop := f.start(t)
	waitFor(t, func() bool { return len(f.committed()) == 1 })
	if err := f.db.ResetStream(t.Context(), "rec"); err != nil {
		t.Fatal(err)
	}
	f.srv.append([]byte(`{"type":"user","key":"after","value":1,"headers":{"operation":"insert"}}`))
	waitFor(t, func() bool { return logs.count("was reset") == 1 && len(f.committed()) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := logs.count("checkpoint moved by another writer"); n != 0 {
		t.Errorf("a reset was logged %d times as another writer", n)
	}
	assertSynced(t, f.db, "rec", f.model(t))
}

// TestRefusedTokenIsReported: a 401 is retried until the server accepts
// the credentials, logged at most once a minute (not once per retry), and
// shown in the stream's status until reading works again.
func TestRefusedTokenIsReported(t *testing.T) {
	f := newFixture(t, 200)
	var logs logRecorder
	f.opts.Logger = logs.logger()
	f.opts.Consumer.Logger = f.opts.Logger
	f.opts.Once = false
	f.srv.set(func(s *streamServer) { s.refuse = true })
	s, stop := f.start(t)
	waitFor(t, func() bool { return requests(f) >= 5 && len(s.Status()) == 1 && s.Status()[0].Problem != "" })
	if p := s.Status()[0].Problem; !strings.Contains(p, "SYNCD_AUTH_TOKEN") {
		t.Errorf("status problem %q does not name the variable that sets the token", p)
	}
	if n := logs.count("refuses the credentials"); n != 1 {
		t.Errorf("%d log lines for %d refused requests, want 1", n, requests(f))
	}
	f.srv.set(func(s *streamServer) { s.refuse = false })
	waitFor(t, func() bool { st := s.Status()[0]; return st.Ready && st.Problem == "" })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
