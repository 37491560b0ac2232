package syncer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
)

// GonePolicy says what a stream does when the server answers 410 Gone: the
// offset syncd stored is older than what the server still retains.
type GonePolicy string

// The policies of SYNCD_ON_GONE.
const (
	// GoneHalt stops the stream with an error naming the URL, the offset and
	// the remedies; the tables keep their last committed state.
	GoneHalt GonePolicy = "halt"
	// GoneResync re-reads the stream from -1 and replaces the stream's rows
	// with what it reads, in one transaction at the next up-to-date.
	GoneResync GonePolicy = "resync"
)

const (
	// missingLogEvery rate-limits the log line of a stream waited for.
	missingLogEvery = time.Minute
	// missingMaxDelay caps the backoff between checks for a missing stream.
	missingMaxDelay = 10 * time.Second
)

// missingWait is a loop's memory of a stream that does not exist yet.
type missingWait struct {
	backoff *consumer.Backoff
	logged  time.Time // when the wait was last logged
}

// readFailed decides what a reader error means. It returns nil when the
// loop should read again (after waiting, for a stream that does not exist
// yet; at once, for a resync), or the error that stops the stream.
func (l *streamLoop) readFailed(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, consumer.ErrNotFound):
		if !l.neverCommitted() {
			return &DisappearedError{Stream: l.stream.Name, URL: l.stream.URL, Offset: l.committed.NextOffset, Err: err}
		}
		if l.stopsUpToDate() {
			return fmt.Errorf("stream %s does not exist yet: %w", l.stream.Name, err)
		}
		return l.waitForStream(ctx)
	case errors.Is(err, consumer.ErrGone):
		offset := l.committed.NextOffset
		if se := (*consumer.StatusError)(nil); errors.As(err, &se) {
			offset = se.Offset
		}
		if l.opts.OnGone != GoneResync || offset == "-1" {
			return &GoneError{Stream: l.stream.Name, URL: l.stream.URL, Offset: offset, Err: err}
		}
		l.log.Warn("offset no longer retained (410 Gone); re-reading the stream from the beginning to replace its rows (SYNCD_ON_GONE=resync)",
			"url", l.stream.URL, "offset", offset)
		l.resyncFrom = l.committed.NextOffset
		return nil
	}
	return err
}

// neverCommitted reports whether the stream's checkpoint still holds the
// start sentinel: syncd has never committed anything read from it.
func (l *streamLoop) neverCommitted() bool {
	o := l.committed.NextOffset
	return o == "-1" || o == "now" || o == ""
}

// waitForStream waits, with capped exponential backoff and full jitter, for
// a stream that does not exist yet (apps often create their stream after the
// sidecar starts). It logs at most once a minute.
func (l *streamLoop) waitForStream(ctx context.Context) error {
	w := &l.missing
	if w.backoff == nil {
		w.backoff = &consumer.Backoff{Initial: 100 * time.Millisecond, Max: missingMaxDelay}
	}
	delay := w.backoff.Next(0)
	if now := time.Now(); now.Sub(w.logged) >= missingLogEvery {
		w.logged = now
		l.log.Warn("stream does not exist yet (404); waiting for it to be created", "url", l.stream.URL, "attempt", w.backoff.Attempt())
	}
	if !sleep(ctx, delay) {
		return ctx.Err()
	}
	return nil
}

// found ends a wait for a missing stream: it exists now.
func (l *streamLoop) found() {
	if l.missing.backoff != nil && l.missing.backoff.Attempt() > 0 {
		l.log.Info("stream exists now; following it", "url", l.stream.URL, "checks", l.missing.backoff.Attempt())
		l.missing.backoff.Reset()
	}
}

// restartPosition is where reading starts after loading the checkpoint or
// a broken response: the committed offset, or -1 while a resync is under
// way — then the transaction starts with a reset, so the commit at the next
// up-to-date deletes the stream's old rows first. Its compare-and-set still
// expects the old stored offset.
//
// A resync ends early when the reloaded checkpoint moved: another writer
// (a replica, a restarted copy) read past the gone offset and committed.
func (l *streamLoop) restartPosition(t *txn) consumer.Position {
	if l.resyncFrom != "" && l.committed.NextOffset != l.resyncFrom {
		l.log.Info("checkpoint moved during the resync; another writer re-read the stream, continuing from it", "offset", l.committed.NextOffset)
		l.resyncFrom = ""
	}
	if l.resyncFrom == "" {
		return consumer.Position{Offset: l.committed.NextOffset}
	}
	t.batch.AddReset()
	return consumer.Position{Offset: "-1"}
}
