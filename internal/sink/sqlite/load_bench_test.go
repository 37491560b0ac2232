package sqlite_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// w1Keys is the number of distinct keys of the W1-like batch, as in
// cmd/syncd-bench's W1 (1M change events over 100k keys).
const w1Keys = 100_000

// w1Types are W1's entity types; key i belongs to w1Types[i%4].
var w1Types = []string{"user", "order", "product", "comment"}

// w1Batch builds what W1 coalesces into: every key written once with a
// ~200-byte value, every tenth of them then deleted (so its delete carries
// the replaced value), with W1's txids (one per 1000 events) and
// timestamps.
func w1Batch() *sink.Batch {
	b := state.NewBatch()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range w1Keys {
		key := fmt.Sprintf("k%07d", i)
		value := fmt.Appendf(nil, `{"id":"%s","name":"abcdefghijkl","email":"abcdefgh@example.com","version":%d,`+
			`"score":%d.25,"active":true,"tags":["abcde","abcdef","abcd"],"address":{"city":"abcdefghi",`+
			`"zip":"%05d","geo":{"lat":-12.25,"lng":101.5,"verified":false}}}`, key, i%7, i, 10000+i%89999)
		op := state.Upsert
		if i%10 == 9 {
			op = state.Delete
			b.AddChange(state.Change{Type: w1Types[i%4], Key: key, Op: state.Upsert, Value: value,
				TxID: "w1-tx-" + strconv.Itoa(i/1000), Timestamp: base.Format(time.RFC3339Nano)}, "o")
			value = nil
		}
		b.AddChange(state.Change{Type: w1Types[i%4], Key: key, Op: op, Value: value,
			TxID: "w1-tx-" + strconv.Itoa(i/1000), Timestamp: base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)}, "0000000000000001_0000000000000000")
	}
	return b
}

// BenchmarkWriteW1 measures the transaction a W1 catch-up commits: the
// W1-like batch (w1Batch) written and committed in one transaction, into an
// empty database ("empty": a first load) or over the same rows ("full").
// write-ms and commit-ms split the time between Write and Commit.
func BenchmarkWriteW1(b *testing.B) {
	for _, mode := range []string{"empty", "full"} {
		b.Run(mode, func(b *testing.B) {
			bt := w1Batch()
			var write, commit time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				s := open(b)
				if err := s.Migrate(b.Context()); err != nil {
					b.Fatal(err)
				}
				if _, err := s.Checkpoint(b.Context(), "w1", "http://bench", "0"); err != nil {
					b.Fatal(err)
				}
				from := "0"
				if mode == "full" {
					tx, err := s.Begin(b.Context(), "w1", from)
					if err != nil {
						b.Fatal(err)
					}
					if err := tx.Write(b.Context(), bt); err != nil {
						b.Fatal(err)
					}
					if _, err := tx.Commit(b.Context(), sink.Commit{NextOffset: "1"}); err != nil {
						b.Fatal(err)
					}
					from = "1"
				}
				b.StartTimer()
				start := time.Now()
				tx, err := s.Begin(b.Context(), "w1", from)
				if err != nil {
					b.Fatal(err)
				}
				if err := tx.Write(b.Context(), bt); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if _, err := tx.Commit(b.Context(), sink.Commit{NextOffset: "2", Events: int64(bt.Events())}); err != nil {
					b.Fatal(err)
				}
				write, commit = write+mid.Sub(start), commit+time.Since(mid)
				b.StopTimer()
				_ = s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(write.Milliseconds())/float64(b.N), "write-ms")
			b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms")
		})
	}
}
