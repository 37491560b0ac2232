package state

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// w1Workload is a W1 catch-up as the stream loop feeds it to a batch: the
// decoded changes and the response offset each was read at.
type w1Workload struct {
	changes []Change
	offsets []string // offsets[i] is the offset of changes[i]
}

// genW1Changes builds the changes of cmd/syncd-bench's W1: events change
// events over keys keys of 4 types, every key inserted once and then
// rewritten at random (10% deletes, 20% upserts, the rest updates; a deleted
// key comes back as an insert), ~200-byte values, a distinct timestamp per
// event and one txid per 1,000 events. Every string is distinct, as Decode
// returns fresh strings; values come from a pool, as they alias the read
// buffer (hot in cache) in the stream loop.
func genW1Changes(events, keys int) w1Workload {
	const perResponse = 1000
	types := []string{"user", "order", "product", "comment"}
	rng := rand.New(rand.NewPCG(7, 7^0x9e3779b97f4a7c15))
	pool := make([][]byte, 4096)
	for i := range pool {
		v := fmt.Appendf(nil, `{"id":"k%07d","name":"%s","email":"%s@example.com","version":%d,`+
			`"score":%d.25,"active":true,"tags":["%s","%s"],"address":{"city":"%s","zip":"%05d"}}`,
			rng.IntN(keys), word(rng, 12), word(rng, 8), rng.IntN(20), rng.IntN(100000),
			word(rng, 5), word(rng, 6), word(rng, 9), rng.IntN(100000))
		pool[i] = v
	}
	// One arena holds every string, so that each is distinct without a
	// million allocations.
	var arena strings.Builder
	type span struct{ typ, key, txid, ts [2]int }
	spans := make([]span, events)
	ops := make([]Operation, events)
	deleted := make([]bool, keys)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(s string) [2]int {
		start := arena.Len()
		arena.WriteString(s)
		return [2]int{start, arena.Len()}
	}
	for seq := range events {
		k, op := seq, Insert
		if seq >= keys {
			k = rng.IntN(keys)
			switch r := rng.IntN(10); {
			case deleted[k]:
				op = Insert
			case r == 0:
				op = Delete
			case r < 3:
				op = Upsert
			default:
				op = Update
			}
		}
		deleted[k] = op == Delete
		ops[seq] = op
		spans[seq] = span{
			typ:  put(types[k%len(types)]),
			key:  put(fmt.Sprintf("k%07d", k)),
			txid: put("w1-tx-" + strconv.Itoa(seq/perResponse)),
			ts:   put(base.Add(time.Duration(seq) * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")),
		}
	}
	all := arena.String()
	str := func(s [2]int) string { return all[s[0]:s[1]] }
	w := w1Workload{changes: make([]Change, events), offsets: make([]string, events)}
	for i, s := range spans {
		c := Change{Type: str(s.typ), Key: str(s.key), Op: ops[i], TxID: str(s.txid), Timestamp: str(s.ts)}
		if c.Op != Delete {
			c.Value = pool[rng.IntN(len(pool))]
		}
		w.changes[i] = c
		if i%perResponse == 0 {
			w.offsets[i] = fmt.Sprintf("%016d_%016d", i/perResponse, i*210)
		} else {
			w.offsets[i] = w.offsets[i-1]
		}
	}
	return w
}

func word(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

// w1Round feeds the whole workload to a new batch and sorts its ops, as one
// W1 catch-up (which fits in one 64 MiB batch) does before its write.
func w1Round(w *w1Workload, prefetch bool) *Batch {
	b := NewBatch()
	for i := range w.changes {
		if j := i + PrefetchAhead; prefetch && j < len(w.changes) {
			b.Prefetch(w.changes[j].Type, w.changes[j].Key)
		}
		b.AddChange(w.changes[i], w.offsets[i])
	}
	_ = b.Ops()
	return b
}

// BenchmarkBatchW1 is the batch side of the W1 catch-up: 1,000,000 change
// events over 100,000 keys of 4 types, ~200-byte values, each key rewritten
// ~10 times, distinct timestamps, a txid per 1,000 events; one iteration is
// the whole catch-up. To count its instructions, run the test binary under
// valgrind --tool=callgrind with GOGC=off GODEBUG=asyncpreemptoff=1 (callgrind
// trips over async preemption signals) at -test.benchtime 1x and 3x: one
// catch-up is half the difference. (--toggle-collect on w1Round loses track
// of Go's stacks and misses parts of the round.)
// With prefetch, each change is preceded by a Prefetch of the one
// PrefetchAhead changes later, as the stream loop does during a catch-up.
func BenchmarkBatchW1(b *testing.B) {
	for _, prefetch := range []bool{false, true} {
		b.Run(fmt.Sprint("prefetch=", prefetch), func(b *testing.B) { benchmarkBatchW1(b, prefetch) })
	}
}

func benchmarkBatchW1(b *testing.B, prefetch bool) {
	w := genW1Changes(1_000_000, 100_000)
	b.ReportAllocs()
	var last *Batch
	for b.Loop() {
		last = w1Round(&w, prefetch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(w.changes)), "ns/event")
	if last.Len() == 0 || last.Events() != len(w.changes) || len(last.TxIDs()) != 1000 {
		b.Fatalf("batch: %d ops, %d events, %d txids", last.Len(), last.Events(), len(last.TxIDs()))
	}
}
