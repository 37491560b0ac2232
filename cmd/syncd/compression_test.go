package main

import (
	"testing"

	"github.com/syncd-io/syncd/internal/consumer"
)

// SYNCD_HTTP_COMPRESSION reaches the reader options (the consumer's tests show
// what each value sends on the wire).
func TestHTTPCompressionReachesTheReader(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"gzip", "none"} {
		c := Config{HTTPCompression: v}
		if got := c.withTransport(consumer.Options{}).Compression; got != consumer.Compression(v) {
			t.Errorf("SYNCD_HTTP_COMPRESSION=%s: reader Compression %q", v, got)
		}
	}
}
