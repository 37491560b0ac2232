package consumer

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff computes retry delays: capped exponential backoff with full jitter,
// delay = rand[0, min(max, initial·2^attempt)], raised to a server's
// Retry-After when that is longer. It is not safe for concurrent use.
type backoff struct {
	initial, max time.Duration
	attempt      int                 // retries since the last success
	randN        func(n int64) int64 // uniform in [0, n); rand.Int64N unless a test injects one
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, randN: rand.Int64N}
}

// next returns the delay before the next retry, at least floor, and counts the
// attempt.
func (b *backoff) next(floor time.Duration) time.Duration {
	ceiling := b.ceiling()
	b.attempt++
	d := time.Duration(b.randN(int64(ceiling) + 1))
	return max(d, floor)
}

// ceiling is min(max, initial·2^attempt) without overflowing.
func (b *backoff) ceiling() time.Duration {
	if b.initial <= 0 {
		return 0
	}
	if b.attempt >= 62 || b.initial > b.max>>b.attempt {
		return b.max
	}
	return min(b.max, b.initial<<b.attempt)
}

// reset starts again from the initial delay, after a successful response.
func (b *backoff) reset() { b.attempt = 0 }

// retryAfter parses a Retry-After header (delta seconds or an HTTP date)
// relative to now; zero when absent or unparseable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
