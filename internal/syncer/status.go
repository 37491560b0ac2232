package syncer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
)

// StreamStatus is what this process knows of one stream.
type StreamStatus struct {
	Name       string
	URL        string
	Offset     string    // last committed offset
	UpToDate   bool      // the last commit was at an up-to-date boundary
	Closed     bool      // the stream reached EOF
	Ready      bool      // committed up to date (or reached EOF) since start
	Halted     string    // why the stream stopped, if it did
	LastCommit time.Time // the last commit at an up-to-date boundary or EOF
	// Uncommitted counts change events read but not yet committed.
	Uncommitted int64
	// Problem says why reading is retrying without progress, when an
	// operator can fix it (the server refuses the token); "" otherwise.
	Problem string
}

// statusBox is a loop's status, written by the loop and read by /readyz,
// the collector and `status`.
type statusBox struct {
	mu          sync.Mutex
	snap        StreamStatus
	uncommitted atomic.Int64
}

// setCommitted records the committed checkpoint; boundary says it was
// committed (or confirmed) at an up-to-date boundary or the end.
func (l *streamLoop) setCommitted(c sink.Checkpoint, boundary bool) {
	b := &l.status
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snap.Offset, b.snap.UpToDate, b.snap.Closed = c.NextOffset, c.UpToDate, c.Closed
	if boundary {
		b.snap.Ready = true
		b.snap.LastCommit = time.Now()
	}
}

// setHalted records why the stream stopped, in memory for /readyz and in
// the checkpoint row for `syncd status`. The loop's transaction has been
// rolled back (on Postgres it would hold the checkpoint row lock).
func (l *streamLoop) setHalted(ctx context.Context, reason string) {
	l.status.mu.Lock()
	l.status.snap.Halted = reason
	l.status.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.opts.Sink.SetHalted(ctx, l.stream.Name, reason); err != nil {
		l.log.Warn("cannot record the halt in the checkpoint", "err", err)
	}
}

// setProblem records (or, with "", clears) why reading is stuck.
func (l *streamLoop) setProblem(p string) {
	l.status.mu.Lock()
	defer l.status.mu.Unlock()
	l.status.snap.Problem = p
}

// snapshot returns the loop's status.
func (l *streamLoop) snapshot() StreamStatus {
	l.status.mu.Lock()
	defer l.status.mu.Unlock()
	st := l.status.snap
	st.Uncommitted = l.status.uncommitted.Load()
	return st
}
