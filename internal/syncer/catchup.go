package syncer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/syncd-io/syncd/internal/sink"
)

// stopsUpToDate reports whether the loop ends at its first up-to-date
// commit: in Once mode, or when it runs for CatchUp.
func (l *streamLoop) stopsUpToDate() bool { return l.opts.Once || l.once }

// CatchUp runs one stream's loop from its stored checkpoint (or
// Options.StartOffset when it has none) to its next up-to-date boundary,
// committing by the usual rule, and returns the checkpoint committed there.
// It is how a scheduler that learns of pending work elsewhere (a pull-wake
// subscription) processes a stream without holding a live connection to it.
// A checkpoint conflict or a database error starts again from the stored
// checkpoint, as in Run; a stream that does not exist, a halt or another
// read error is returned. CatchUp may run concurrently for different streams;
// two concurrent calls for the same stream are fenced by the checkpoint
// compare-and-set, so nothing is applied twice. A panic in the loop goes to
// Options.OnPanic like one in a loop the syncer started.
func (s *Syncer) CatchUp(ctx context.Context, st Stream) (sink.Checkpoint, error) {
	defer s.opts.guard() // the scheduler's goroutine runs the loop: its panics go to OnPanic too
	l := newStreamLoop(st, &s.opts)
	l.once = true
	// Thousands of short catch-ups a minute: their routine lines (following,
	// caught up) go to debug; warnings and errors stay as they are.
	l.log = slog.New(quietHandler{l.log.Handler()})
	err := l.run(ctx)
	if err == nil && !l.committed.UpToDate && !l.committed.Closed {
		err = errors.New("syncer: catch-up of " + st.Name + " ended before an up-to-date boundary")
	}
	return l.committed, err
}

// quietHandler records Info records as Debug.
type quietHandler struct{ h slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, demote(l))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler { return quietHandler{q.h.WithAttrs(as)} }
func (q quietHandler) WithGroup(name string) slog.Handler    { return quietHandler{q.h.WithGroup(name)} }

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}
