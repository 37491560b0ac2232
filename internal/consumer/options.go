package consumer

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure a Reader. The zero value is usable.
type Options struct {
	// HTTPClient sends every request. Nil means a shared client built on
	// NewTransport, which sets no response header timeout: the Reader's own
	// watchdog decides how long each kind of request may wait. Do not set
	// http.Client.Timeout on a client used here: it bounds the whole body,
	// and a catch-up body or an SSE connection legitimately lasts longer; the
	// Reader detects dead connections with IdleTimeout instead. Leave
	// Accept-Encoding unset: Compression decides it.
	HTTPClient *http.Client
	// Compression is the body encoding asked of the server: Gzip (the
	// default; the transport negotiates and decodes it) or None, which sends
	// Accept-Encoding: identity. None saves syncd the inflate (and the
	// server the deflate) where bandwidth is free: a server on the same
	// host or in the same cluster.
	Compression Compression
	// Live is the tailing mode once up to date; empty means SSE.
	Live Mode
	// Header, if set, is called for every request, including every retry and
	// reconnect, to add headers such as a rotating Authorization token.
	// Header values are never logged. Like OnRequest, it may be called from the
	// read-ahead goroutine.
	Header func(h http.Header)
	// MaxMessageBytes bounds one message in memory; a larger message is
	// delivered with Truncated set and only its first MaxMessageBytes bytes.
	// Zero means 16 MiB.
	MaxMessageBytes int
	// ScanNested is the jsonscan.Scanner.Nested filter of the validating
	// scan that runs while splitting (see Message.Scan): which top-level
	// members have the members of their object values recorded. nil
	// records them all.
	ScanNested func(quotedName []byte) bool
	// NewPrepared, when set, makes one Prepared per read-ahead page: the
	// caller's first step on each message (decoding, say) then runs on the
	// read-ahead goroutine, and Message.Prepared carries it.
	NewPrepared func() Prepared
	// InitialBackoff and MaxBackoff bound the retry delays (full jitter);
	// zero means 100 ms and 30 s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// IdleTimeout is how long a live request (long-poll, SSE) may wait for
	// its response headers, and how long any request may wait for the next
	// body bytes, before the connection is considered dead and replaced. It
	// must exceed the server's long-poll timeout and SSE keep-alive interval;
	// zero means 75 s (2.5× the reference server's 30 s). A catch-up request
	// waits CatchUpHeaderTimeout for its headers instead.
	IdleTimeout time.Duration
	// CatchUpHeaderTimeout is how long a catch-up request may wait for its
	// response headers: the reference server builds a whole backlog before
	// sending the first byte (about 9 s for a million events on an idle
	// machine, far longer on a loaded one), and giving up makes it start
	// over. Zero means 10 minutes; it is never less than IdleTimeout.
	CatchUpHeaderTimeout time.Duration
	// Logger receives a warning per retry; nil discards.
	Logger *slog.Logger
	// OnRequest, if set, is called once per HTTP response (status 0 when the
	// request failed without one) with the mode: "catch-up", "long-poll" or
	// "sse". For a catch-up response requested ahead it is called from the
	// read-ahead goroutine (never at the same time as from Next).
	OnRequest func(mode string, status int)
	// OnRetry, if set, is called before each retry delay with the 1-based
	// attempt count since the last success.
	OnRetry func(attempt int, delay time.Duration, err error)

	// spanLimit overrides sseSpanLimit in tests.
	spanLimit int
}

// Compression is a response body encoding a Reader asks for.
type Compression string

// The encodings a Reader can ask for.
const (
	Gzip Compression = "gzip"
	None Compression = "none"
)

// The request modes reported to OnRequest.
const (
	modeCatchUp  = "catch-up"
	modeLongPoll = "long-poll"
	modeSSE      = "sse"
)

const (
	defaultMaxMessageBytes = 16 << 20
	defaultInitialBackoff  = 100 * time.Millisecond
	defaultMaxBackoff      = 30 * time.Second
	defaultIdleTimeout     = 75 * time.Second
	defaultCatchUpHeaders  = 10 * time.Minute
	// minSSESpanBytes is the least memory an SSE span (the data events up to
	// a control event) may take before the Reader falls back to a streamed
	// catch-up read; see sseSpanLimit.
	minSSESpanBytes = 64 << 20
)

// defaultClient is shared by every Reader and Head without an HTTPClient, so
// that connections are pooled across streams of the same server.
var defaultClient = &http.Client{Transport: NewTransport()}

// NewTransport returns the transport a stream client should use: dial and
// TCP keep-alive timeouts, connections pooled per server, and no response
// header or overall timeout, because the Reader's own watchdog decides how long
// each kind of request may wait (a catch-up's headers arrive only once the
// server has built the whole response).
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = 16
	return t
}

// withDefaults returns o with its zero fields defaulted, or an error naming a
// bad field.
func (o Options) withDefaults() (Options, error) {
	if o.HTTPClient == nil {
		o.HTTPClient = defaultClient
	}
	switch o.Live {
	case "":
		o.Live = SSE
	case SSE, LongPoll:
	default:
		return o, fmt.Errorf("consumer: unknown live mode %q (want %q or %q)", o.Live, SSE, LongPoll)
	}
	switch o.Compression {
	case "":
		o.Compression = Gzip
	case Gzip, None:
	default:
		return o, fmt.Errorf("consumer: unknown compression %q (want %q or %q)", o.Compression, Gzip, None)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMaxMessageBytes
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = defaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = defaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	if o.CatchUpHeaderTimeout <= 0 {
		o.CatchUpHeaderTimeout = defaultCatchUpHeaders
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	o.CatchUpHeaderTimeout = max(o.CatchUpHeaderTimeout, o.IdleTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// sseSpanLimit bounds the bytes of buffered SSE data events. A span larger
// than that (a reconnect after a burst of appends, or one huge message) is
// dropped and read once more as a catch-up, whose body is streamed.
func (o Options) sseSpanLimit() int {
	if o.spanLimit > 0 {
		return o.spanLimit
	}
	return max(minSSESpanBytes, 4*o.MaxMessageBytes)
}
