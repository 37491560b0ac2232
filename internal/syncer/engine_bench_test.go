package syncer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/state"
)

// BenchmarkEngine measures syncd's engine without a database: one catch-up
// response of W1-shaped change events (20,000 events over 2,000 keys of four
// types, ~350 bytes each) read over loopback, split, decoded and coalesced
// into a batch, as the stream loop does (MB/s of body). Run it under
// valgrind --tool=callgrind for an instruction count that load on the
// machine does not change.
func BenchmarkEngine(b *testing.B) {
	body := w1Body(20000, 2000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stream-Next-Offset", "0000000000020000")
		w.Header().Set("Stream-Up-To-Date", "true")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	r, err := consumer.NewReader(srv.URL, consumer.Options{Compression: consumer.None})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	batch := state.NewBatch()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := r.Next(ctx, consumer.Position{Offset: "-1"})
		if err != nil {
			b.Fatal(err)
		}
		for m, err := range resp.Messages(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			ev := decode(m)
			if ev.Kind != state.KindChange {
				b.Fatalf("message %d: %s", m.Position, ev.Reason)
			}
			batch.AddChange(ev.Change, resp.NextOffset)
		}
		if batch.Len() != 2000 || batch.Events() != 20000 {
			b.Fatalf("batch of %d ops from %d events", batch.Len(), batch.Events())
		}
		batch.Clear()
	}
}

// w1Body returns a JSON array of n change events over keys keys, shaped
// like syncd-bench's W1 (a ~200-byte value with nested objects and arrays,
// a txid per 1,000 events and a distinct timestamp each).
func w1Body(n, keys int) []byte {
	types := []string{"user", "order", "product", "comment"}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		k := (i * 7919) % keys
		fmt.Fprintf(&buf, `{"type":%q,"key":"k-%07d","value":{"id":"k-%07d","name":"qwertyuiop%02d","email":"zxcvbnml@example.com","version":%d,"score":%d.25,"active":true,"tags":["abcde","fghijk","lmno"],"address":{"city":"qwertyuio","zip":"5%04d","geo":{"lat":-12.5,"lng":101.75,"verified":false}}},"headers":{"operation":"upsert","txid":"tx-%06d","timestamp":"2026-01-01T00:%02d:%02d.%03dZ"}}`,
			types[k%4], k, k, i%100, i, i*3, k, i/1000, (i/60000)%60, (i/1000)%60, i%1000)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}
