package state

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// model is an obviously-correct Batch for the ops, txids and size: a map
// from (type, key) to the op of its last change.
type model struct {
	ops    map[opKey]Op
	txids  []string
	txSeen map[string]bool
}

func (m *model) add(c Change, offset string) {
	if c.TxID != "" && !m.txSeen[c.TxID] {
		m.txSeen[c.TxID] = true
		m.txids = append(m.txids, c.TxID)
	}
	op := Op{Type: c.Type, Key: c.Key, Delete: c.Op == Delete, TxID: c.TxID, Timestamp: c.Timestamp, Offset: offset}
	if !op.Delete && c.Value != nil {
		op.Value = bytes.Clone(c.Value)
	}
	if prev, ok := m.ops[opKey{c.Type, c.Key}]; ok && op.Delete {
		op.LastValue = prev.Value
		if prev.Delete {
			op.LastValue = prev.LastValue
		}
	}
	m.ops[opKey{c.Type, c.Key}] = op
}

// sorted returns the model's ops in (Type, Key) order.
func (m *model) sorted() []Op {
	return slices.SortedFunc(maps.Values(m.ops), func(x, y Op) int { return compareOps(x, y) })
}

// size is what Batch.Size must be with no rejects and no history.
func (m *model) size() int {
	n := 0
	for _, op := range m.ops {
		n += opSize(op)
	}
	for _, id := range m.txids {
		n += len(id) + txidOverhead
	}
	return n
}

// sameOp compares every field of two ops, nil-ness of byte slices included.
func sameOp(x, y Op) bool {
	return x.Type == y.Type && x.Key == y.Key && x.Delete == y.Delete &&
		bytes.Equal(x.Value, y.Value) && (x.Value == nil) == (y.Value == nil) &&
		bytes.Equal(x.LastValue, y.LastValue) && (x.LastValue == nil) == (y.LastValue == nil) &&
		x.TxID == y.TxID && x.Timestamp == y.Timestamp && x.Offset == y.Offset
}

// TestBatchAgainstModel feeds random changes (over enough keys that the
// index grows, with txids, timestamps, offsets, values of varying sizes,
// resets, and reads of Ops between changes) to a batch and to the model, and
// compares every field of every op, the txids and the size.
func TestBatchAgainstModel(t *testing.T) {
	t.Parallel()
	modelRounds(t, NewBatch(), rand.New(rand.NewPCG(3, 4)), 25, 2000, 8000, abTypes)
}

// abTypes are types two of which share keys and sort apart from their first
// bytes.
var abTypes = []string{"a", "b", "ab"}

// modelRounds runs rounds of up to maxChanges random changes over up to
// maxKeys keys of types through b and a model, clearing b between rounds.
func modelRounds(t *testing.T, b *Batch, rng *rand.Rand, rounds, maxKeys, maxChanges int, types []string) {
	t.Helper()
	for round := range rounds {
		b.Clear()
		m := &model{ops: map[opKey]Op{}, txSeen: map[string]bool{}}
		keys := 1 + rng.IntN(maxKeys)
		for i := range rng.IntN(maxChanges) {
			if rng.IntN(3000) == 0 {
				b.AddReset()
				clear(m.ops)
			}
			if rng.IntN(3000) == 0 {
				b.Ops() // sorts mid-batch: later changes must still find their op
			}
			c := randomChange(rng, types, keys, i)
			offset := fmt.Sprint("off-", i/100)
			// The batch gets the change as DecodeBorrowed returns it:
			// strings aliasing a read buffer, which is then reused.
			var buf []byte
			bc := c
			bc.Type, bc.Key, bc.TxID, bc.Timestamp, buf = borrow(c.Type, c.Key, c.TxID, c.Timestamp)
			b.AddChange(bc, offset)
			m.add(c, offset)
			for j := range buf {
				buf[j] = '#'
			}
			for j := range c.Value {
				c.Value[j] = '#' // the read buffer is reused
			}
		}
		checkAgainstModel(t, fmt.Sprint("round ", round), b, m)
	}
}

// TestBatchHashCollisions forces hash collisions between (type, key) pairs
// through the index's hash hook: pairs that collide, whether on the whole
// hash or on the part of it the index keeps, must still get an op each.
func TestBatchHashCollisions(t *testing.T) {
	t.Parallel()
	hashes := map[string]func(maphash.Seed, string, string) uint64{
		"every pair collides": func(maphash.Seed, string, string) uint64 { return 42 << 32 },
		"four hashes":         func(s maphash.Seed, typ, key string) uint64 { return hashOpKey(s, typ, key) % 4 },
		"equal tags": func(s maphash.Seed, typ, key string) uint64 {
			return 7<<32 | hashOpKey(s, typ, key)&0xffff_ffff
		},
		"keys collide across types": func(s maphash.Seed, _, key string) uint64 { return maphash.String(s, key) },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := NewBatch()
			b.index.hash = hash
			modelRounds(t, b, rand.New(rand.NewPCG(5, 6)), 10, 60, 600, abTypes)
		})
	}
}

// TestBatchManyTypes sorts batches of more types than the sort tells apart
// by scanning, named so that first-seen, length and byte order differ.
func TestBatchManyTypes(t *testing.T) {
	t.Parallel()
	var types []string
	for i := range 40 {
		types = append(types, fmt.Sprintf("%s%d", strings.Repeat("z", 40-i), i%7))
	}
	rand.New(rand.NewPCG(7, 8)).Shuffle(len(types), func(i, j int) { types[i], types[j] = types[j], types[i] })
	for _, n := range []int{2, maxScan, maxScan + 1, len(types)} {
		t.Run(fmt.Sprint(n, " types"), func(t *testing.T) {
			t.Parallel()
			modelRounds(t, NewBatch(), rand.New(rand.NewPCG(uint64(n), 9)), 10, 300, 2000, types[:n])
		})
	}
}

// randomChange returns a change of one of keys keys of one of types, its
// value a fresh buffer.
// borrow copies four strings into one buffer and returns them aliasing it.
func borrow(a, b, c, d string) (string, string, string, string, []byte) {
	buf := []byte(a + b + c + d)
	at := func(from, n int) string {
		if n == 0 {
			return ""
		}
		return unsafe.String(&buf[from], n)
	}
	i, j, k := len(a), len(a)+len(b), len(a)+len(b)+len(c)
	return at(0, len(a)), at(i, len(b)), at(j, len(c)), at(k, len(d)), buf
}

func randomChange(rng *rand.Rand, types []string, keys, i int) Change {
	k := rng.IntN(keys)
	c := Change{Type: types[rng.IntN(len(types))], Key: fmt.Sprint("k", k), Op: Operation(1 + rng.IntN(4))}
	if rng.IntN(4) > 0 {
		c.TxID = fmt.Sprint("tx", i/50-rng.IntN(2))
	}
	switch rng.IntN(6) {
	case 0, 1, 2:
		c.Timestamp = fmt.Sprintf("2026-01-01T00:00:%02dZ", i%60)
	case 3: // another length: restamped into a new copy
		c.Timestamp = fmt.Sprintf("2026-01-01T00:00:%02d.%dZ", i%60, i%1000)
	}
	if c.Op != Delete && rng.IntN(50) > 0 {
		c.Value = fmt.Appendf(nil, `{"v":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("x"), rng.IntN(300)))
	}
	return c
}

func checkAgainstModel(t *testing.T, name string, b *Batch, m *model) {
	t.Helper()
	got, want := b.Ops(), m.sorted()
	if len(got) != len(want) || b.Len() != len(want) {
		t.Fatalf("%s: %d ops (Len %d), want %d", name, len(got), b.Len(), len(want))
	}
	for i := range want {
		if !sameOp(got[i], want[i]) {
			t.Fatalf("%s: op %d = %+v, want %+v", name, i, got[i], want[i])
		}
	}
	if !slices.Equal(b.TxIDs(), m.txids) {
		t.Fatalf("%s: TxIDs() = %q, want %q", name, b.TxIDs(), m.txids)
	}
	if b.Size() != m.size() {
		t.Fatalf("%s: Size() = %d, want %d", name, b.Size(), m.size())
	}
}

// TestBatchTxIDsRepeatAndClear pins txid de-duplication across repeats,
// returns to an earlier txid, a reset and Clear: a batch after Clear
// records the txid it last saw before again.
func TestBatchTxIDsRepeatAndClear(t *testing.T) {
	t.Parallel()
	b := NewBatch()
	for _, id := range []string{"a", "a", "", "b", "a", "b", "c"} {
		b.AddChange(Change{Type: "t", Key: "k", Op: Upsert, Value: []byte(`1`), TxID: id}, "o")
	}
	b.AddReset()
	b.AddChange(Change{Type: "t", Key: "k", Op: Delete, TxID: "c"}, "o")
	if got, want := b.TxIDs(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("TxIDs() = %q, want %q", got, want)
	}
	b.Clear()
	b.AddChange(Change{Type: "t", Key: "k", Op: Delete, TxID: "c"}, "o")
	if got, want := b.TxIDs(), []string{"c"}; !slices.Equal(got, want) {
		t.Fatalf("TxIDs() after Clear = %q, want %q", got, want)
	}
	if got, want := b.Size(), opSize(b.Ops()[0])+len("c")+txidOverhead; got != want {
		t.Fatalf("Size() after Clear = %d, want %d", got, want)
	}
}
