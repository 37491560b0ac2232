package consumer

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffCeilingGrowsAndCaps(t *testing.T) {
	t.Parallel()
	b := &Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	var ceilings []time.Duration
	b.randN = func(n int64) int64 { ceilings = append(ceilings, time.Duration(n-1)); return n - 1 }
	for range 6 {
		b.Next(0)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if ceilings[i] != w*time.Millisecond {
			t.Fatalf("ceilings = %v, want %v ms", ceilings, want)
		}
	}
	if b.Attempt() != 6 {
		t.Errorf("attempt = %d, want 6", b.Attempt())
	}
}

func TestBackoffFullJitter(t *testing.T) {
	t.Parallel()
	b := &Backoff{Initial: time.Second, Max: time.Minute}
	b.randN = func(n int64) int64 { return 0 }
	if d := b.Next(0); d != 0 {
		t.Errorf("delay with rand 0 = %v, want 0 (full jitter)", d)
	}
	b.randN = func(n int64) int64 { return n / 2 }
	if d := b.Next(0); d != time.Second {
		t.Errorf("delay = %v, want 1s (half of the 2s ceiling)", d)
	}
}

func TestBackoffFloorAndReset(t *testing.T) {
	t.Parallel()
	b := &Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	b.randN = func(n int64) int64 { return 0 }
	if d := b.Next(3 * time.Second); d != 3*time.Second {
		t.Errorf("delay with a 3s Retry-After = %v, want 3s", d)
	}
	b.Next(0)
	b.Reset()
	var ceiling int64
	b.randN = func(n int64) int64 { ceiling = n - 1; return 0 }
	b.Next(0)
	if time.Duration(ceiling) != 100*time.Millisecond {
		t.Errorf("ceiling after reset = %v, want 100ms", time.Duration(ceiling))
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	t.Parallel()
	b := &Backoff{Initial: time.Hour, Max: 30 * time.Second}
	b.randN = func(n int64) int64 { return n - 1 }
	for range 200 {
		if d := b.Next(0); d < 0 || d > 30*time.Second {
			t.Fatalf("attempt %d: delay %v out of [0, 30s]", b.Attempt(), d)
		}
	}
}

func TestBackoffZeroValue(t *testing.T) {
	t.Parallel()
	var b Backoff
	var ceilings []time.Duration
	b.randN = func(n int64) int64 { ceilings = append(ceilings, time.Duration(n-1)); return 0 }
	for range 20 {
		b.Next(0)
	}
	if ceilings[0] != defaultInitialBackoff || ceilings[19] != defaultMaxBackoff || b.Attempt() != 20 {
		t.Errorf("ceilings %v after %d attempts, want %v up to %v", ceilings, b.Attempt(), defaultInitialBackoff, defaultMaxBackoff)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
