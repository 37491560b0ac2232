package sinktest

import (
	"fmt"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// BenchRows is the number of upserts per transaction in BenchmarkWrite.
const BenchRows = 10_000

// BenchmarkWrite measures one transaction of BenchRows upserts of ~100-byte
// values: "insert" writes new keys every time, "update" rewrites the same keys.
func BenchmarkWrite(b *testing.B, open func(b *testing.B) sink.Sink) {
	for _, mode := range []string{"insert", "update"} {
		b.Run(mode, func(b *testing.B) {
			s := open(b)
			if err := s.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Checkpoint(b.Context(), "bench", "http://bench", "0"); err != nil {
				b.Fatal(err)
			}
			value := []byte(`{"name":"a reasonably sized value","count":12345,"tags":["x","y","z"],"ok":true}`)
			batches := func(i int) *sink.Batch {
				prefix := "k"
				if mode == "insert" {
					prefix = fmt.Sprintf("k%d-", i)
				}
				bt := state.NewBatch()
				for _, k := range keys(prefix, BenchRows) {
					bt.AddChange(state.Change{Type: "bench", Key: k, Op: state.Upsert, Value: value, TxID: "t"}, "o")
				}
				return bt
			}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				bt := batches(i)
				b.StartTimer()
				tx, err := s.Begin(b.Context(), "bench", fmt.Sprint(i))
				if err != nil {
					b.Fatal(err)
				}
				if err := tx.Write(b.Context(), bt); err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Commit(b.Context(), sink.Commit{NextOffset: fmt.Sprint(i + 1), Events: BenchRows}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*BenchRows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
