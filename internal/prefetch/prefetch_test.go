package prefetch

import (
	"testing"
	"unsafe"
)

// A prefetch, of memory or of nil, neither faults nor changes memory.
func TestLineIsOnlyAHint(t *testing.T) {
	b := []byte("unchanged")
	Line(unsafe.Pointer(&b[0]))
	Line(nil)
	if string(b) != "unchanged" {
		t.Fatalf("memory changed: %q", b)
	}
}
