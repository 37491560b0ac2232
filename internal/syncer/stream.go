package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

var (
	// errDone ends a stream's Follow in Once mode after its up-to-date commit.
	errDone = errors.New("stream up to date")
	// errRestart ends Follow so the loop reloads the checkpoint (another
	// writer moved it) and reads on from there.
	errRestart = errors.New("checkpoint moved by another writer")
)

// HaltError reports a stream stopped by SYNCD_ON_INVALID=halt at an invalid
// message. The stream's checkpoint stays before the response that holds it.
type HaltError struct {
	Stream   string
	URL      string
	Offset   string // the offset the response holding the message was read from
	Position int    // the message's index within that response
	Reason   string
}

func (e *HaltError) Error() string {
	return fmt.Sprintf("stream %s halted at offset %s, message %d: %s (SYNCD_ON_INVALID=halt; switch to dead-letter to move it to syncd_rejects and continue; `syncd rejects` lists dead letters)",
		e.Stream, e.Offset, e.Position, e.Reason)
}

// dbError marks a database failure: the loop rolls back, waits and starts
// again from the stored checkpoint.
type dbError struct{ err error }

func (e *dbError) Error() string { return e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

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
}

// streamLoop is one stream's reader handler and transaction owner.
type streamLoop struct {
	stream Stream
	opts   *Options
	log    *slog.Logger

	// Owned by the goroutine running run.
	ctx             context.Context
	committed       sink.Checkpoint
	pos             consumer.Position
	resp            consumer.Response
	batch           *state.Batch
	tx              sink.Tx
	txEvents        int64
	txRejects       int64
	readSinceCommit int64
	txCounts        map[state.Operation]int
	txUpserts       int
	txDeletes       int
	progress        progress
	metrics         *metrics.Stream
	allowed         map[string]bool // nil: every type
	uncommitted     atomic.Int64    // change events read but not committed
	sseConnected    bool            // an SSE connection was opened before (for reconnect counts)
	gone            goneState       // 404 waits and a 410 resync under way
	wb              writeBehind     // a batch being written in the background

	mu   sync.Mutex
	snap StreamStatus
}

func newStreamLoop(st Stream, opts *Options) *streamLoop {
	types := st.Types
	if len(types) == 0 {
		types = opts.Types
	}
	var allowed map[string]bool
	if len(types) > 0 {
		allowed = make(map[string]bool, len(types))
		for _, t := range types {
			allowed[t] = true
		}
	}
	return &streamLoop{
		allowed:  allowed,
		stream:   st,
		opts:     opts,
		log:      opts.Logger.With("stream", st.Name),
		batch:    state.NewBatch(),
		metrics:  opts.Metrics.Stream(st.Name),
		txCounts: map[state.Operation]int{},
		snap:     StreamStatus{Name: st.Name, URL: st.URL},
	}
}

func (l *streamLoop) run(ctx context.Context) error {
	l.ctx = ctx
	defer l.rollback()
	for attempt := 0; ; {
		err := l.follow(ctx)
		var dbe *dbError
		switch {
		case err == nil, errors.Is(err, errDone):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errRestart):
			l.log.Warn("checkpoint moved by another writer; reloading it")
			continue
		case errors.As(err, &dbe):
			attempt++
			delay := backoff(attempt)
			l.log.Warn("database error; retrying from the stored checkpoint", "attempt", attempt, "delay", delay, "err", err)
			if !sleep(ctx, delay) {
				return ctx.Err()
			}
			continue
		default:
			if err = l.readFailed(ctx, err); err == nil {
				continue
			} else if ctx.Err() != nil {
				return ctx.Err()
			}
			// Roll back first: on Postgres the open transaction holds the
			// checkpoint row lock that recording the halt needs.
			l.rollback()
			l.setHalted(err.Error())
			return err
		}
	}
}

// follow loads the checkpoint and reads the stream from it until the reader
// stops.
func (l *streamLoop) follow(ctx context.Context) error {
	l.rollback()
	cp, err := l.opts.Sink.Checkpoint(ctx, l.stream.Name, l.stream.URL, l.opts.StartOffset)
	if err != nil {
		return &dbError{fmt.Errorf("load checkpoint of %s: %w", l.stream.Name, err)}
	}
	l.committed = cp
	l.pos = l.restartPosition()
	l.setCommitted(cp, false)
	if cp.Closed {
		l.log.Info("stream already reached its end", "offset", cp.NextOffset)
		return nil
	}
	l.log.Info("following stream", "url", l.stream.URL, "offset", cp.NextOffset)
	l.progress.start(time.Now())
	return consumer.Follow(ctx, l.stream.URL, l, l.consumerOptions())
}

// consumerOptions is the shared reader configuration plus this stream's
// metric hooks.
func (l *streamLoop) consumerOptions() consumer.Options {
	o := l.opts.Consumer
	base := o.OnRequest
	o.OnRequest = func(mode string, status int) {
		l.metrics.Request(mode, status)
		if mode == "sse" && status == 200 {
			if l.sseConnected {
				l.metrics.Reconnect()
			}
			l.sseConnected = true
		}
		if base != nil {
			base(mode, status)
		}
	}
	baseRetry := o.OnRetry
	o.OnRetry = func(attempt int, delay time.Duration, err error) {
		l.metrics.Retry()
		if baseRetry != nil {
			baseRetry(attempt, delay, err)
		}
	}
	return o
}

// Position implements consumer.Handler.
func (l *streamLoop) Position() consumer.Position { return l.pos }

// Begin implements consumer.Handler.
func (l *streamLoop) Begin(r consumer.Response) error {
	l.resp = r
	return nil
}

// Message implements consumer.Handler: it decodes the message into the batch
// and writes the batch into the open transaction when it grows too large.
func (l *streamLoop) Message(m consumer.Message) error {
	var ev state.Event
	if m.Truncated {
		ev = state.Event{Kind: state.KindReject, Reason: fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", m.Size, len(m.Raw))}
	} else {
		ev = state.Decode(m.Raw)
	}
	switch ev.Kind {
	case state.KindChange:
		if l.allowed != nil && !l.allowed[ev.Change.Type] {
			return l.reject(m, fmt.Sprintf("type %q is not in the stream's allowed types", ev.Change.Type))
		}
		if reason := l.validate(ev.Change); reason != "" {
			return l.reject(m, reason)
		}
		l.batch.AddChange(ev.Change, l.resp.NextOffset)
	case state.KindControl:
		if ev.Control == state.Reset {
			l.batch.AddReset()
		}
	default:
		return l.reject(m, ev.Reason)
	}
	return l.afterMessage(m)
}

// reject applies the stream's on_invalid (or SYNCD_ON_INVALID) to an invalid message.
func (l *streamLoop) reject(m consumer.Message, reason string) error {
	policy := l.stream.OnInvalid
	if policy == "" {
		policy = l.opts.OnInvalid
	}
	if policy == Halt {
		return &HaltError{Stream: l.stream.Name, URL: l.stream.URL, Offset: l.resp.Offset, Position: m.Position, Reason: reason}
	}
	l.log.Warn("invalid message sent to syncd_rejects", "offset", l.resp.Offset, "position", m.Position, "reason", reason)
	l.batch.AddReject(state.Reject{Raw: m.Raw, ResponseOffset: l.resp.Offset, Position: m.Position, Reason: reason})
	return l.afterMessage(m)
}

// afterMessage reports progress and bounds the batch's memory.
func (l *streamLoop) afterMessage(m consumer.Message) error {
	if !l.pos.UpToDate {
		l.progress.message(l.log, m.Size)
	}
	if l.batch.Size() > l.opts.MaxBatchBytes {
		return l.flushBehind()
	}
	return nil
}

// End implements consumer.Handler: it commits at up-to-date boundaries, at
// EOF, and (when configured) after enough catch-up bytes.
func (l *streamLoop) End(r consumer.Response) error {
	l.pos = consumer.Position{Offset: r.NextOffset, Cursor: r.Cursor, UpToDate: r.UpToDate}
	l.readSinceCommit += r.Bytes
	l.metrics.Read(r.Bytes)
	l.uncommitted.Store(l.txEvents + int64(l.batch.Events()))
	catchup := l.opts.CatchupCommitBytes > 0 && l.readSinceCommit >= l.opts.CatchupCommitBytes && !l.gone.resync
	if !r.UpToDate && !r.Closed && !catchup {
		return nil
	}
	if err := l.commit(r); err != nil {
		return err
	}
	if l.opts.Once && r.UpToDate && !r.Closed {
		return errDone
	}
	return nil
}

// Abort implements consumer.Handler: a response broke, so everything not yet
// committed is discarded and reading starts again at the stored checkpoint.
func (l *streamLoop) Abort(err error) {
	l.log.Warn("response broke; discarding uncommitted work", "offset", l.resp.Offset, "err", err)
	l.rollback()
	l.pos = l.restartPosition()
}

// begin opens the stream's transaction if none is open.
func (l *streamLoop) begin() error {
	if l.tx != nil {
		return nil
	}
	tx, err := l.opts.Sink.Begin(l.ctx, l.stream.Name, l.committed.NextOffset)
	if errors.Is(err, sink.ErrConflict) {
		return errRestart
	}
	if err != nil {
		return &dbError{fmt.Errorf("begin transaction for %s at %s: %w", l.stream.Name, l.committed.NextOffset, err)}
	}
	l.tx = tx
	return nil
}

// flush writes the pending batch into the open transaction, after any
// background write, and empties it.
func (l *streamLoop) flush() error {
	if err := l.waitWrite(); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	if err := l.tx.Write(l.ctx, l.batch); err != nil {
		return l.writeError(err, l.resp.Offset)
	}
	l.countWritten(l.batch)
	l.batch.Clear()
	return nil
}

// writeError classifies a failed Tx.Write of the batch read up to the
// response at offset.
func (l *streamLoop) writeError(err error, offset string) error {
	if errors.Is(err, sink.ErrConflict) {
		return errRestart
	}
	return &dbError{fmt.Errorf("write batch of %s at %s: %w", l.stream.Name, offset, err)}
}

// countWritten adds a batch written into the transaction to its counters.
func (l *streamLoop) countWritten(b *state.Batch) {
	l.txEvents += int64(b.Events())
	l.txRejects += int64(len(b.Rejects()))
	for op, n := range b.Counts() {
		l.txCounts[op] += n
	}
	for _, op := range b.Ops() {
		if op.Delete {
			l.txDeletes++
		} else {
			l.txUpserts++
		}
	}
}

// commit writes what is pending and the checkpoint in one transaction.
func (l *streamLoop) commit(r consumer.Response) error {
	c := l.committed
	if l.tx == nil && l.batch.Empty() && r.NextOffset == c.NextOffset && r.UpToDate == c.UpToDate && r.Closed == c.Closed {
		l.readSinceCommit = 0
		l.setCommitted(c, r.UpToDate || r.Closed)
		return nil // nothing changed: no transaction for an idle live poll
	}
	if err := l.flush(); err != nil {
		return err
	}
	start := time.Now()
	commit := sink.Commit{NextOffset: r.NextOffset, UpToDate: r.UpToDate, Closed: r.Closed, Events: l.txEvents, Rejects: l.txRejects}
	_, err := l.tx.Commit(l.ctx, commit)
	l.tx = nil
	if errors.Is(err, sink.ErrConflict) {
		l.rollback()
		return errRestart
	}
	if err != nil {
		l.rollback()
		return &dbError{fmt.Errorf("commit %s at %s: %w", l.stream.Name, r.NextOffset, err)}
	}
	elapsed := time.Since(start)
	l.log.Debug("committed", "offset", r.NextOffset, "up_to_date", r.UpToDate, "closed", r.Closed,
		"events", commit.Events, "rejects", commit.Rejects, "duration", elapsed)
	counts := make(map[string]int, len(l.txCounts))
	for op, n := range l.txCounts {
		counts[op.String()] = n
	}
	l.metrics.Commit(elapsed.Seconds(), counts, int(commit.Rejects), l.txUpserts, l.txDeletes)
	if r.UpToDate && l.progress.events > 0 {
		l.progress.done(l.log)
	}
	c.NextOffset, c.UpToDate, c.Closed = r.NextOffset, r.UpToDate, r.Closed
	c.EventsApplied += commit.Events
	c.Rejects += commit.Rejects
	l.committed = c
	l.gone.resync = false
	l.resetTxCounters()
	l.setCommitted(c, r.UpToDate || r.Closed)
	if r.Closed {
		l.log.Info("stream closed by its writer; stopping at its end", "offset", r.NextOffset)
	}
	return nil
}

// rollback discards the open transaction and the pending batch.
func (l *streamLoop) rollback() {
	_ = l.waitWrite() // the transaction is discarded either way
	if l.tx != nil {
		if err := l.tx.Rollback(context.WithoutCancel(l.ctx)); err != nil {
			l.log.Warn("rollback", "err", err)
		}
		l.tx = nil
	}
	l.batch.Clear()
	l.resetTxCounters()
}

// resetTxCounters forgets what the open (now ended) transaction counted.
func (l *streamLoop) resetTxCounters() {
	l.txEvents, l.txRejects, l.readSinceCommit = 0, 0, 0
	l.txUpserts, l.txDeletes = 0, 0
	clear(l.txCounts)
	l.uncommitted.Store(0)
}

func (l *streamLoop) setCommitted(c sink.Checkpoint, boundary bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.snap.Offset, l.snap.UpToDate, l.snap.Closed = c.NextOffset, c.UpToDate, c.Closed
	if boundary {
		l.snap.Ready = true
		l.snap.LastCommit = time.Now()
	}
}

// setHalted records why the stream stopped, in memory for /readyz and in
// the checkpoint row for `syncd status`.
func (l *streamLoop) setHalted(reason string) {
	l.mu.Lock()
	l.snap.Halted = reason
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), 5*time.Second)
	defer cancel()
	if err := l.opts.Sink.SetHalted(ctx, l.stream.Name, reason); err != nil {
		l.log.Warn("cannot record the halt in the checkpoint", "err", err)
	}
}

func (l *streamLoop) status() StreamStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.snap
	st.Uncommitted = l.uncommitted.Load()
	return st
}

// backoff is a capped exponential delay with full jitter for database retries.
func backoff(attempt int) time.Duration {
	ceiling := 100 * time.Millisecond << min(attempt, 9)
	ceiling = min(ceiling, 30*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling)) + 1)
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
