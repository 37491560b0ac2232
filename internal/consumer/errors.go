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
// Reader.Next retries the ones that are Retryable and returns the others;
// test them with errors.Is against ErrNotFound, ErrGone and ErrBadRequest.
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

// Is maps the status to the package's sentinels, so that callers test
// errors.Is(err, ErrGone) without importing net/http.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrGone:
		return e.Status == http.StatusGone
	}
	return false
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

// The permanent statuses a *StatusError matches with errors.Is.
var (
	// ErrBadRequest is a 400: a malformed offset or parameters.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound is a 404: the stream does not exist (yet, or any more).
	ErrNotFound = errors.New("stream not found")
	// ErrGone is a 410: the offset is older than the server retains.
	ErrGone = errors.New("offset gone")
)

// ErrBrokenResponse reports a response whose body broke while its messages
// were read (truncated, corrupt, connection dropped or idle). The caller
// discards what it read from that response; the Reader waits out a backoff
// before its next request.
var ErrBrokenResponse = errors.New("response broke")

// ErrCorruptBody reports a response body that is not a well-formed JSON array
// (truncated, corrupt, or something else than an array). It comes wrapped in
// an ErrBrokenResponse.
var ErrCorruptBody = errors.New("corrupt response body")

// ErrNotJSON reports a stream that is not in JSON mode (its Content-Type is
// not application/json). Reader.Next returns it: retrying cannot help.
var ErrNotJSON = errors.New("not a JSON-mode stream")

// ErrIdle reports a connection that sent nothing for longer than
// Options.IdleTimeout; the Reader reconnects.
var ErrIdle = errors.New("connection idle for too long")

// authLogEvery rate-limits the log line of a refused token.
const authLogEvery = time.Minute

// IsAuth reports whether err is the server refusing the request's
// credentials (401 or 403): retried, since a rotated token may fix it.
func IsAuth(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Status == http.StatusUnauthorized || se.Status == http.StatusForbidden)
}
