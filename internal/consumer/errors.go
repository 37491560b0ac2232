package consumer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// StatusError is an HTTP response the reader could not use: the stream's URL,
// the offset it was read from, the status and the first bytes of the body.
// Whether Follow retries it is decided by Retryable; Follow returns the ones it
// does not retry.
type StatusError struct {
	Method string
	URL    string // the stream URL, without query parameters
	Offset string
	Status int
	Body   string // the first bytes of the response body, for diagnosis
	// RetryAfter is the server's Retry-After, the least delay before a retry.
	RetryAfter time.Duration
}

// Error names the request, the status and what an operator can do about it.
func (e *StatusError) Error() string {
	var b strings.Builder
	method := e.Method
	if method == "" {
		method = http.MethodGet
	}
	fmt.Fprintf(&b, "%s %s", method, e.URL)
	if e.Offset != "" {
		fmt.Fprintf(&b, " at offset %q", e.Offset)
	}
	fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	if r := e.remedy(); r != "" {
		b.WriteString(": ")
		b.WriteString(r)
	}
	if body := strings.TrimSpace(e.Body); body != "" {
		fmt.Fprintf(&b, " (server said %q)", body)
	}
	return b.String()
}

func (e *StatusError) remedy() string {
	switch e.Status {
	case http.StatusBadRequest:
		return "malformed offset or parameters; check the stream URL and the stored offset"
	case http.StatusNotFound:
		return "the stream does not exist; create it or fix SYNCD_STREAMS"
	case http.StatusGone:
		return "the offset is older than the server retains (or the stream was deleted); see SYNCD_ON_GONE or run `syncd reset`"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "check the auth token (SYNCD_AUTH_TOKEN / SYNCD_AUTH_TOKEN_FILE)"
	}
	return ""
}

// Retryable reports whether the same request may succeed later: server errors,
// rate limiting, timeouts, and auth failures (a rotated token may fix them).
// 400, 404, 410 and every other client error are permanent.
func (e *StatusError) Retryable() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusRequestTimeout, http.StatusTooEarly,
		http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return e.Status >= 500
}

// ErrCorruptBody reports a response body that is not a well-formed JSON array
// (truncated, corrupt, or something else than an array). Follow retries the
// same offset; it only surfaces in logs and OnRetry.
var ErrCorruptBody = errors.New("corrupt response body")

// ErrNotJSON reports a stream that is not in JSON mode (its Content-Type is
// not application/json). Follow returns it: retrying cannot help.
var ErrNotJSON = errors.New("not a JSON-mode stream")

// ErrIdle reports a connection that sent nothing for longer than
// Options.IdleTimeout; Follow reconnects.
var ErrIdle = errors.New("connection idle for too long")

// handlerError carries an error returned by a Handler method through the
// reader so that Follow can return it unchanged.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }
