package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/jsonscan"
	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// streamLoop runs one stream: it pulls responses from the stream's reader,
// decodes their messages into the open transaction and commits by the
// commit rule. The committed checkpoint lives in one place, committed; the
// goroutine running run owns every field but status.
type streamLoop struct {
	stream  Stream
	opts    *Options
	log     *slog.Logger
	metrics *metrics.Stream
	allowed map[string]bool    // nil: every type
	checker sink.ChangeChecker // the sink's, if it checks changes
	tables  tablesAhead        // creates the tables of new types while the loop reads on

	committed  sink.Checkpoint // the stream's checkpoint as last loaded or committed
	resyncFrom string          // while re-reading after a 410: the offset the server no longer retained
	conflicted bool            // the last transaction met a checkpoint it did not expect
	missing    missingWait     // waits for a stream that does not exist yet
	progress   progress
	spare      *state.Batch // the emptied batch of the last transaction, reused by the next
	once       bool         // stop at the first up-to-date commit, as Options.Once does (CatchUp)

	status statusBox
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
	l := &streamLoop{
		stream:  st,
		opts:    opts,
		log:     opts.Logger.With("stream", st.Name),
		metrics: opts.Metrics.Stream(st.Name),
		allowed: allowed,
	}
	l.checker, _ = opts.Sink.(sink.ChangeChecker)
	l.tables.p, _ = opts.Sink.(sink.TablePreparer)
	l.tables.log = l.log
	l.status.snap = StreamStatus{Name: st.Name, URL: st.URL}
	return l
}

// run follows the stream until it ends (closed; up to date in Once mode),
// ctx ends, or an error stops it. Database errors and checkpoint conflicts
// start again from the stored checkpoint; a stream that does not exist yet
// is waited for; a 410 resyncs under SYNCD_ON_GONE=resync. Any other error
// stops the stream and is recorded as its halt reason.
func (l *streamLoop) run(ctx context.Context) error {
	r, err := consumer.NewReader(l.stream.URL, l.consumerOptions())
	if err != nil {
		return err
	}
	defer r.Close()
	retry := l.opts.dbBackoff()
	for {
		err := l.follow(ctx, r)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, sink.ErrConflict):
			l.conflicted = true // the reload says whether it moved or was reset
		case isDBError(err):
			l.metrics.DatabaseRetry()
			delay := retry.Next(0)
			l.log.Warn("database error; retrying from the stored checkpoint", "attempt", retry.Attempt(), "delay", delay, "err", err)
			if !sleep(ctx, delay) {
				return ctx.Err()
			}
		default:
			if err = l.readFailed(ctx, err); err == nil {
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.setHalted(ctx, err.Error())
			return err
		}
	}
}

// follow loads the checkpoint and reads the stream from it, committing by
// the commit rule, until the stream ends (nil) or something fails. Every
// error is returned as it arose: sink.ErrConflict, a *dbError, a
// *HaltError, or the reader's.
func (l *streamLoop) follow(ctx context.Context, r *consumer.Reader) error {
	cp, err := l.opts.Sink.Checkpoint(ctx, l.stream.Name, l.stream.URL, l.opts.StartOffset)
	if err != nil {
		return dbErrorf("load checkpoint of %s: %w", l.stream.Name, err)
	}
	switch {
	case l.wasReset(cp):
		l.log.Warn("the stream was reset (`syncd reset`) while it ran; re-reading it from the start", "offset", cp.NextOffset)
		l.resyncFrom = ""
	case l.conflicted:
		l.log.Warn("checkpoint moved by another writer; continuing from it", "offset", cp.NextOffset)
	}
	l.conflicted = false
	l.committed = cp
	l.setCommitted(cp, false)
	if cp.Closed {
		l.log.Info("stream already reached its end", "offset", cp.NextOffset)
		return nil
	}
	if l.missing.backoff == nil || l.missing.backoff.Attempt() == 0 {
		// Not again on every check for a stream that does not exist yet.
		l.log.Info("following stream", "url", l.stream.URL, "offset", cp.NextOffset)
	}
	l.progress.start(time.Now())
	t := l.begin()
	defer func() { l.end(ctx, t) }()
	defer l.tables.wait()
	pos := l.restartPosition(t)
	for {
		resp, err := r.Next(ctx, pos)
		if err != nil {
			return err
		}
		l.found()
		l.setProblem("")
		if err := l.read(ctx, t, resp); errors.Is(err, consumer.ErrBrokenResponse) {
			l.log.Warn("response broke; discarding uncommitted work", "offset", resp.Offset, "err", err)
			l.end(ctx, t)
			t = l.begin()
			pos = l.restartPosition(t)
			continue
		} else if err != nil {
			return err
		}
		l.tables.start(ctx, t.batch)
		pos = consumer.Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
		t.bytes += resp.Bytes
		l.metrics.Read(resp.Bytes)
		l.status.uncommitted.Store(t.pending())
		if !l.due(resp, t) {
			continue
		}
		if err := l.commit(ctx, t, resp); err != nil {
			return err
		}
		if resp.UpToDate {
			l.progress.done(l.log)
		}
		l.end(ctx, t)
		t = l.begin()
		if resp.Closed {
			l.log.Info("stream closed by its writer; stopping at its end", "offset", resp.NextOffset)
			return nil
		}
		if l.stopsUpToDate() && resp.UpToDate {
			return nil
		}
	}
}

// wasReset reports whether a reloaded checkpoint is younger than the one
// this loop committed: `syncd reset` deleted it, and Checkpoint created it
// anew. (Another writer only ever moves a checkpoint forward.)
func (l *streamLoop) wasReset(cp sink.Checkpoint) bool {
	c := l.committed
	return c.Stream != "" && (cp.EventsApplied < c.EventsApplied || cp.Rejects < c.Rejects ||
		(cp.NextOffset != c.NextOffset && (cp.NextOffset == "-1" || cp.NextOffset == "now")))
}

// begin starts the transaction object of the next commit.
func (l *streamLoop) begin() *txn {
	b := l.spare
	if b == nil {
		b = state.NewBatch()
	}
	l.spare = nil
	t := newTxn(l.opts, l.stream.Name, l.committed.NextOffset, b)
	t.history(l.opts.History, l.committed.EventsApplied)
	return t
}

// end drops a transaction object: whatever it did not commit is rolled back
// (on shutdown, said in the log with where the stream resumes).
func (l *streamLoop) end(ctx context.Context, t *txn) {
	if n := t.pending(); n > 0 && ctx.Err() != nil {
		l.log.Info("shutting down: rolled back the uncommitted catch-up; the next start resumes from the checkpoint",
			"uncommitted_events", n, "resume_offset", l.committed.NextOffset)
	}
	if err := t.rollback(ctx); err != nil {
		l.log.Warn("rollback", "err", err)
	}
	l.spare = t.batch
	l.status.uncommitted.Store(0)
}

// read decodes the messages of one response into the transaction, writing
// the batch into it in the background whenever it outgrows the limit.
func (l *streamLoop) read(ctx context.Context, t *txn, resp *consumer.Response) error {
	for m, err := range resp.Messages(ctx) {
		if err != nil {
			return err
		}
		if !resp.Live {
			prefetchAhead(t.batch, resp)
		}
		if err := l.add(t, resp, m); err != nil {
			return err
		}
		if !resp.Live {
			l.progress.message(l.log, m.Size)
		}
		if t.full() {
			l.tables.wait()
			if err := t.flushBehind(ctx, resp.Offset); err != nil {
				return err
			}
		}
	}
	return nil
}

// prefetchAhead names to the batch the change state.PrefetchAhead messages
// ahead in a catch-up, when it is already read, so that the cache misses of
// its lookup overlap the work on the messages before it.
func prefetchAhead(b *state.Batch, resp *consumer.Response) {
	m, ok := resp.Peek(state.PrefetchAhead)
	if !ok {
		return
	}
	if d, ok := m.Prepared.(*decoded); ok {
		if ev := &d.events[m.Index]; ev.Kind == state.KindChange {
			b.Prefetch(ev.Change.Type, ev.Change.Key)
		}
	}
}

// add decodes one message into the batch: a change, a control event, or a
// reject handled by the stream's bad-input policy.
func (l *streamLoop) add(t *txn, resp *consumer.Response, m consumer.Message) error {
	ev := decode(m)
	reason := ev.Reason
	switch ev.Kind {
	case state.KindChange:
		if reason = l.check(ev.Change); reason == "" {
			t.batch.AddChange(ev.Change, resp.NextOffset)
			return nil
		}
	case state.KindControl:
		if ev.Control == state.Reset {
			t.batch.AddReset()
		}
		return nil
	}
	if l.policy() == Halt {
		return &HaltError{Stream: l.stream.Name, URL: l.stream.URL, Offset: resp.Offset, Position: m.Position, Reason: reason}
	}
	l.log.Warn("invalid message sent to syncd_rejects", "offset", resp.Offset, "position", m.Position, "reason", reason)
	rej := state.Reject{Raw: m.Raw, ResponseOffset: resp.Offset, Position: m.Position, Reason: reason}
	if !m.Truncated {
		rej.TxID = state.TxIDOf(m.Raw)
	}
	t.batch.AddReject(rej)
	return nil
}

// decode turns a message into an event; a message past the size limit is a
// reject without being parsed.
func decode(m consumer.Message) state.Event {
	if m.Truncated {
		return state.Event{Kind: state.KindReject, Reason: fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", m.Size, len(m.Raw))}
	}
	if d, ok := m.Prepared.(*decoded); ok && d.events[m.Index].Kind != 0 {
		return d.events[m.Index]
	}
	// The change's strings alias m.Raw: add hands it to the batch, which
	// copies what it keeps, before the next message.
	return state.DecodeBorrowed(m.Raw, m.Scan)
}

// decoded is a read-ahead page's messages decoded on the read-ahead
// goroutine (consumer.Prepared): the stream loop, the busier of the two,
// then only adds them to the batch. Only messages validated whole while
// splitting are decoded there (the others stay zero, of no Kind); their
// strings alias the page.
type decoded struct {
	events []state.Event
}

func (d *decoded) Add(raw []byte, scan *jsonscan.Result) {
	var ev state.Event
	if scan != nil {
		ev = state.DecodeBorrowed(raw, scan)
	}
	d.events = append(d.events, ev)
}

func (d *decoded) Reset() {
	clear(d.events)
	d.events = d.events[:0]
}

// check returns why a change may not enter the batch, or "": a type outside
// the allowlist, a change the database cannot store (sink.ChangeChecker), or
// a value its type's schema refuses. Deletes carry no value
// and old_value is never checked: only what would be materialized is.
func (l *streamLoop) check(c state.Change) string {
	if l.allowed != nil && !l.allowed[c.Type] {
		return fmt.Sprintf("type %q is not in the stream's allowed types", c.Type)
	}
	if l.checker != nil {
		if reason := l.checker.CheckChange(c); reason != "" {
			return reason
		}
	}
	if l.opts.Validate == nil || c.Op == state.Delete {
		return ""
	}
	return l.opts.Validate(c.Type, c.Value)
}

// policy is the stream's bad-input policy.
func (l *streamLoop) policy() Policy {
	if l.stream.OnInvalid != "" {
		return l.stream.OnInvalid
	}
	return l.opts.OnInvalid
}

// due applies the commit rule to the end of a response: commit when it is up
// to date or closed, or (SYNCD_CATCHUP_COMMIT_BYTES) after enough bytes of a
// catch-up — never during a resync, which must replace the rows at once.
func (l *streamLoop) due(resp *consumer.Response, t *txn) bool {
	if resp.UpToDate || resp.Closed {
		return true
	}
	n := l.opts.CatchupCommitBytes
	return n > 0 && t.bytes >= n && l.resyncFrom == ""
}

// commit commits the transaction at the end of resp and reports the result.
// A live response that changed nothing commits nothing.
func (l *streamLoop) commit(ctx context.Context, t *txn, resp *consumer.Response) error {
	c := l.committed
	boundary := resp.UpToDate || resp.Closed
	if t.idle() && resp.NextOffset == c.NextOffset && resp.UpToDate == c.UpToDate && resp.Closed == c.Closed {
		l.setCommitted(c, boundary)
		return nil
	}
	l.tables.wait()
	res, err := t.commit(ctx, c, sink.Commit{NextOffset: resp.NextOffset, UpToDate: resp.UpToDate, Closed: resp.Closed})
	if err != nil {
		return err
	}
	l.committed = res.Checkpoint
	l.resyncFrom = ""
	l.setCommitted(res.Checkpoint, boundary)
	l.report(res)
	return nil
}

// report hands a commit's result to the metrics, the logs and OnCommit.
func (l *streamLoop) report(res Result) {
	l.log.Debug("committed", "offset", res.Checkpoint.NextOffset, "up_to_date", res.Checkpoint.UpToDate,
		"closed", res.Checkpoint.Closed, "events", res.Events, "rejects", res.Rejects, "duration", res.Duration)
	l.metrics.Commit(res.Duration.Seconds(), res.Ops, int(res.Rejects), res.Upserts, res.Deletes)
	for _, n := range res.Nulls {
		l.metrics.ColumnNulls(n.Table, n.Column, n.N)
	}
	if l.opts.OnCommit != nil {
		l.opts.OnCommit(res)
	}
}

// consumerOptions is the shared reader configuration plus this stream's
// metric hooks.
func (l *streamLoop) consumerOptions() consumer.Options {
	o := l.opts.Consumer
	o.ScanNested = state.ScanNested // the scan feeds state.DecodeBorrowed
	o.NewPrepared = func() consumer.Prepared { return new(decoded) }
	base, baseRetry := o.OnRequest, o.OnRetry
	connected := false // an SSE connection was opened before: the next is a reconnect
	o.OnRequest = func(mode string, status int) {
		l.metrics.Request(mode, status)
		if mode == "sse" && status == 200 {
			if connected {
				l.metrics.Reconnect()
			}
			connected = true
		}
		if base != nil {
			base(mode, status)
		}
	}
	o.OnRetry = func(attempt int, delay time.Duration, err error) {
		l.metrics.Retry()
		if consumer.IsAuth(err) {
			l.setProblem("the stream server refuses the credentials (" + err.Error() + ")")
		}
		if baseRetry != nil {
			baseRetry(attempt, delay, err)
		}
	}
	return o
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
