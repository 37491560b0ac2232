// Package consumer reads Durable Streams over HTTP as a pull reader: the
// caller asks a Reader for the next response and ranges over its messages.
// It owns the protocol (catch-up, long-poll, SSE, retries); it knows nothing
// of the State Protocol or SQL.
package consumer

import "github.com/syncd-io/syncd/internal/jsonscan"

// Mode is the live tailing mode used once the reader is up to date.
type Mode string

// The live modes.
const (
	SSE      Mode = "sse"
	LongPoll Mode = "long-poll"
)

// Position is where the next read starts. The caller owns it and passes it to
// every Reader.Next; after a response whose messages it has read whole it
// moves to Position{resp.NextOffset, resp.Cursor, resp.UpToDate}.
type Position struct {
	Offset   string // opaque offset, or the sentinels "-1" / "now"
	Cursor   string // last Stream-Cursor seen, echoed on live requests
	UpToDate bool   // the last response said up to date: the next read is live
}

// Message is one element of a response's JSON array.
type Message struct {
	// Raw is the message's bytes exactly as received. It is valid only until
	// the next step of the iteration that produced it. When Truncated, it
	// holds only the first MaxMessageBytes bytes.
	Raw       []byte
	Position  int   // 0-based index within the response
	Size      int64 // full size in bytes
	Truncated bool  // the message was larger than Options.MaxMessageBytes
	// Scan, when not nil, says that Raw is one valid JSON value and what
	// validating it learned (its object members, UTF-8, \u0000): a decoder
	// need not validate Raw again. Like Raw, it is valid only until the next
	// step of the iteration. It is nil for a message not checked as a whole
	// while splitting (one that spans reads, say): validate it yourself.
	// It is nil as well when Prepared carries the message: Prepared.Add
	// had the scan.
	Scan *jsonscan.Result
	// Prepared, when Options.NewPrepared is set and the message came through
	// the read-ahead, holds what Prepared.Add made of it on the read-ahead
	// goroutine, at index Index: the caller's own decoding, done on the
	// second core. Like Raw, it is valid only until the next step.
	Prepared Prepared
	Index    int
}

// Prepared is a caller's per-page work on messages, done on the read-ahead
// goroutine as each message is split (see Options.NewPrepared). Add is
// called for every message of a page in order (scan is nil when the
// message was not validated whole); Reset empties it for the next page.
// raw stays valid until Reset, scan only during Add.
type Prepared interface {
	Add(raw []byte, scan *jsonscan.Result)
	Reset()
}
