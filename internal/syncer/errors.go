package syncer

import (
	"errors"
	"fmt"
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

// GoneError reports a stream stopped by a 410 Gone under SYNCD_ON_GONE=halt
// (or a resync that found the stream itself gone).
type GoneError struct {
	Stream string
	URL    string
	Offset string // the offset the server no longer retains
	Err    error  // the reader's error
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
	Err    error  // the reader's error
}

func (e *DisappearedError) Error() string {
	return fmt.Sprintf("stream %s stopped: %s no longer exists (404) although it was read up to offset %q: "+
		"its rows are kept as last committed; if it was recreated, run `syncd reset %s` to read it again",
		e.Stream, e.URL, e.Offset, e.Stream)
}

func (e *DisappearedError) Unwrap() error { return e.Err }

// dbError marks a database failure where it arises: the loop rolls back,
// waits and starts again from the stored checkpoint. It is the only
// retryable error the transaction object returns besides sink.ErrConflict.
type dbError struct{ err error }

func (e *dbError) Error() string { return e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

// dbErrorf wraps a database error with what was being done.
func dbErrorf(format string, args ...any) error {
	return &dbError{fmt.Errorf(format, args...)}
}

// isDBError reports whether err is a database failure worth retrying.
func isDBError(err error) bool {
	var dbe *dbError
	return errors.As(err, &dbe)
}
