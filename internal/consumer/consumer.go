// Package consumer reads Durable Streams over HTTP in JSON mode: catch-up reads
// that follow Stream-Next-Offset, then live tailing with long-poll or SSE. It
// streams every response body through a message splitter (never buffering a
// whole body), retries transient failures with capped exponential backoff and
// full jitter, and reports protocol errors with the URL and offset. It knows
// nothing about the State Protocol or SQL.
package consumer

// Mode is the live tailing mode used once the reader is up to date.
type Mode string

// The live modes.
const (
	SSE      Mode = "sse"
	LongPoll Mode = "long-poll"
)

// Position is where the next request starts. The handler owns it: the reader
// asks for it before every request, including retries.
type Position struct {
	Offset   string // opaque offset, or the sentinels "-1" / "now"
	Cursor   string // last Stream-Cursor seen, echoed on live requests
	UpToDate bool   // the last response said up to date: the next read is live
}

// Response describes one response: one HTTP response, or for SSE the data
// events up to and including one control event.
type Response struct {
	URL        string
	Offset     string // the offset the response was read from
	NextOffset string // Stream-Next-Offset / streamNextOffset
	Cursor     string
	UpToDate   bool
	Closed     bool // Stream-Closed: EOF, the stream will never grow again
	Live       bool // read in a live mode
	// Bytes is the size of the (decoded) body, or of the SSE data events of
	// the span. It is known at End; at Begin it is zero for HTTP responses.
	Bytes int64
}

// Message is one element of a response's JSON array.
type Message struct {
	// Raw is the message's bytes exactly as received. It is only valid during
	// the Handler.Message call. When Truncated, it holds only the first
	// MaxMessageBytes bytes.
	Raw       []byte
	Position  int   // 0-based index within the response
	Size      int64 // full size in bytes
	Truncated bool  // the message was larger than Options.MaxMessageBytes
}

// Handler receives a stream's responses. For every response the reader calls
// Begin, then Message for each message in order, then End, or Abort if the
// response broke after Begin (the handler discards what the response
// delivered; the reader retries from Position()). An error returned by a
// handler method stops Follow and is returned by it unchanged, without Abort.
// The handler must adopt Response.NextOffset only at End: a response that is
// aborted must not move Position.
type Handler interface {
	Position() Position
	Begin(r Response) error
	Message(m Message) error
	End(r Response) error
	Abort(err error)
}
