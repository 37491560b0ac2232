package consumer

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Backoff computes retry delays: capped exponential backoff with full jitter,
// delay = rand[0, min(Max, Initial·2^attempt)], raised to a floor (a server's
// Retry-After) when that is longer. It is the one retry policy of syncd: the
// Reader uses it for reads, the stream loop for database errors. The zero
// value is usable; it is not safe for concurrent use.
type Backoff struct {
	Initial time.Duration // the first ceiling; zero means 100 ms
	Max     time.Duration // the largest ceiling; zero means 30 s

	attempt int                 // retries since the last Reset
	randN   func(n int64) int64 // uniform in [0, n); rand.Int64N unless a test injects one
}

// Next returns the delay before the next retry, at least floor, and counts the
// attempt.
func (b *Backoff) Next(floor time.Duration) time.Duration {
	ceiling := b.ceiling()
	b.attempt++
	randN := b.randN
	if randN == nil {
		randN = rand.Int64N
	}
	d := time.Duration(randN(int64(ceiling) + 1))
	return max(d, floor)
}

// Attempt is the number of delays handed out since the last Reset: 1 after
// the first Next.
func (b *Backoff) Attempt() int { return b.attempt }

// Reset starts again from the initial delay, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// ceiling is min(max, initial·2^attempt) without overflowing.
func (b *Backoff) ceiling() time.Duration {
	initial, ceil := b.Initial, b.Max
	if initial <= 0 {
		initial = defaultInitialBackoff
	}
	if ceil <= 0 {
		ceil = defaultMaxBackoff
	}
	if b.attempt >= 62 || initial > ceil>>b.attempt {
		return ceil
	}
	return min(ceil, initial<<b.attempt)
}

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
