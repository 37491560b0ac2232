package state

import (
	"testing"
	"time"
)

// TestPlainRFC3339AcceptsOnlyWhatTimeParseAccepts checks the in-place
// check against time.Parse on the shapes it handles and around them.
func TestPlainRFC3339AcceptsOnlyWhatTimeParseAccepts(t *testing.T) {
	t.Parallel()
	for _, ts := range []string{
		"2026-01-02T15:04:05Z", "2026-01-02T15:04:05.000Z", "2026-01-02T15:04:05.123456789Z",
		"2026-01-02T15:04:05.1234567891Z", "2026-01-02T15:04:05.Z", "2026-01-02T15:04:05+01:00",
		"2026-01-02T15:04:05.5-23:59", "2026-01-02T15:04:05+24:00", "2026-01-02T15:04:05+01:60",
		"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-12-31T23:59:59Z", "2026-12-31T24:00:00Z", "2026-12-31T23:60:00Z",
		"2026-12-31T23:59:60Z", "2026-00-10T00:00:00Z", "2026-13-10T00:00:00Z", "2026-01-00T00:00:00Z",
		"0000-01-01T00:00:00Z", "2026-01-02t15:04:05z", "2026-01-02 15:04:05Z", "2026-1-02T15:04:05Z",
		"2026-01-02T15:04:05", "2026-01-02T15:04:05+0100", "+026-01-02T15:04:05Z", "2026-01-02T15:04:05ZZ",
	} {
		_, err := time.Parse(time.RFC3339Nano, ts)
		if plainRFC3339([]byte(ts)) && err != nil {
			t.Errorf("plainRFC3339(%q) accepts what time.Parse refuses: %v", ts, err)
		}
		if isRFC3339([]byte(ts)) != (err == nil) {
			t.Errorf("isRFC3339(%q) = %v, time.Parse error %v", ts, !(err == nil), err)
		}
	}
	if !plainRFC3339([]byte("2026-01-02T15:04:05.000Z")) {
		t.Error("the common shape takes the slow path")
	}
}

func FuzzRFC3339(f *testing.F) {
	f.Add("2026-01-02T15:04:05.000Z")
	f.Add("2024-02-29T23:59:59+05:30")
	f.Fuzz(func(t *testing.T, ts string) {
		_, err := time.Parse(time.RFC3339Nano, ts)
		if isRFC3339([]byte(ts)) != (err == nil) {
			t.Fatalf("isRFC3339(%q) disagrees with time.Parse (%v)", ts, err)
		}
	})
}
