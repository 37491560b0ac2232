package syncer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
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

// GoneError reports a stream stopped by a 410 Gone under SYNCD_ON_GONE=halt
// (or a resync that found the stream itself gone).
type GoneError struct {
	Stream string
	URL    string
	Offset string // the offset the server no longer retains
	Err    error  // the *consumer.StatusError
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("stream %s halted: %s at offset %q is older than the server retains, or the stream was deleted (410 Gone): "+
		"set SYNCD_ON_GONE=resync to re-read it from the beginning and replace its rows, or run `syncd reset %s`",
		e.Stream, e.URL, e.Offset, e.Stream)
}

func (e *GoneError) Unwrap() error { return e.Err }

// DisappearedError reports a stream that answered 404 after syncd had
// committed from it: it was deleted. That stream stops; the others go on.
type DisappearedError struct {
	Stream string
	URL    string
	Offset string // the last committed offset
	Err    error  // the *consumer.StatusError
}

func (e *DisappearedError) Error() string {
	return fmt.Sprintf("stream %s stopped: %s no longer exists (404) although it was read up to offset %q: "+
		"its rows are kept as last committed; if it was recreated, run `syncd reset %s` to read it again",
		e.Stream, e.URL, e.Offset, e.Stream)
}

func (e *DisappearedError) Unwrap() error { return e.Err }

// goneState is a stream loop's memory of missing and gone answers.
type goneState struct {
	resync        bool      // re-reading from -1 after a 410: the next commit replaces the rows
	resyncFrom    string    // the committed offset the server no longer retained
	waits         int       // consecutive 404s of a stream never read
	lastMissedLog time.Time // when the wait was last logged
}

// readFailed decides what a reader error that is neither a database error
// nor a checkpoint conflict means. It returns nil when the loop should read
// again (after waiting, for a stream that does not exist yet; at once, for a
// resync), or the error that stops the stream.
func (l *streamLoop) readFailed(ctx context.Context, err error) error {
	var se *consumer.StatusError
	if !errors.As(err, &se) {
		return err
	}
	switch se.Status {
	case http.StatusNotFound:
		if !l.neverCommitted() {
			return &DisappearedError{Stream: l.stream.Name, URL: l.stream.URL, Offset: l.committed.NextOffset, Err: se}
		}
		if l.opts.Once {
			return fmt.Errorf("stream %s does not exist yet: %w", l.stream.Name, err)
		}
		return l.waitForStream(ctx, se)
	case http.StatusGone:
		if l.opts.OnGone != GoneResync || se.Offset == "-1" {
			return &GoneError{Stream: l.stream.Name, URL: l.stream.URL, Offset: se.Offset, Err: se}
		}
		l.log.Warn("offset no longer retained (410 Gone); re-reading the stream from the beginning to replace its rows (SYNCD_ON_GONE=resync)",
			"url", l.stream.URL, "offset", se.Offset)
		l.gone.resync, l.gone.resyncFrom = true, l.committed.NextOffset
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
func (l *streamLoop) waitForStream(ctx context.Context, se *consumer.StatusError) error {
	l.gone.waits++
	if now := time.Now(); now.Sub(l.gone.lastMissedLog) >= missingLogEvery {
		l.gone.lastMissedLog = now
		l.log.Warn("stream does not exist yet (404); waiting for it to be created", "url", l.stream.URL, "attempt", l.gone.waits)
	}
	ceiling := min(100*time.Millisecond<<min(l.gone.waits, 10), missingMaxDelay)
	if !sleep(ctx, time.Duration(rand.Int64N(int64(ceiling)))+time.Millisecond) {
		return ctx.Err()
	}
	return nil
}

// restartPosition is where reading starts again after (re)loading the
// checkpoint or a broken response: the committed offset, or -1 while a resync
// is under way — then the batch starts with a reset, so the transaction that
// commits at the next up-to-date deletes the stream's old rows first. Its
// checkpoint compare-and-set still expects the old stored offset.
//
// A resync ends early when the reloaded checkpoint moved: another writer
// (a replica, a restarted copy) read past the gone offset and committed.
func (l *streamLoop) restartPosition() consumer.Position {
	if l.gone.resync && l.committed.NextOffset != l.gone.resyncFrom {
		l.log.Info("checkpoint moved during the resync; another writer re-read the stream, continuing from it", "offset", l.committed.NextOffset)
		l.gone.resync = false
	}
	if !l.gone.resync {
		return consumer.Position{Offset: l.committed.NextOffset}
	}
	l.batch.AddReset()
	return consumer.Position{Offset: "-1"}
}
