package consumer

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestStatusErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status    int
		retryable bool
		mentions  []string
	}{
		{400, false, []string{"400 Bad Request", "malformed offset"}},
		{404, false, []string{"404 Not Found", "does not exist", "SYNCD_STREAMS"}},
		{410, false, []string{"410 Gone", "SYNCD_ON_GONE", "syncd reset"}},
		{409, false, []string{"409 Conflict"}},
		{429, true, []string{"429"}},
		{401, true, []string{"SYNCD_AUTH_TOKEN"}},
		{500, true, []string{"500"}},
		{503, true, []string{"503"}},
	}
	for _, tt := range tests {
		e := &StatusError{URL: "http://h/v1/stream/s", Offset: "0_5", Status: tt.status, Body: "nope"}
		msg := e.Error()
		for _, want := range append(tt.mentions, "GET", "http://h/v1/stream/s", `"0_5"`, "nope") {
			if !strings.Contains(msg, want) {
				t.Errorf("status %d: %q does not mention %q", tt.status, msg, want)
			}
		}
		if e.Retryable() != tt.retryable {
			t.Errorf("status %d: Retryable() = %v, want %v", tt.status, e.Retryable(), tt.retryable)
		}
	}
}

// StatusError matches the sentinel of its status, also when wrapped, so that
// callers need not import net/http.
func TestStatusErrorIs(t *testing.T) {
	t.Parallel()
	sentinels := map[int]error{400: ErrBadRequest, 404: ErrNotFound, 410: ErrGone}
	for _, status := range []int{400, 404, 409, 410, 500} {
		err := fmt.Errorf("read: %w", &StatusError{URL: "http://h/s", Status: status})
		for s, sentinel := range sentinels {
			if got := errors.Is(err, sentinel); got != (s == status) {
				t.Errorf("status %d: errors.Is(err, %v) = %v", status, sentinel, got)
			}
		}
	}
}
