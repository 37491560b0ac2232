package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// step is one event fed to a batch in a test: a change, or a reset when
// reset is true.
type step struct {
	reset  bool
	c      Change
	offset string
}

func ins(typ, key, value string) step { return chg(Insert, typ, key, value) }
func upd(typ, key, value string) step { return chg(Update, typ, key, value) }
func ups(typ, key, value string) step { return chg(Upsert, typ, key, value) }
func del(typ, key string) step        { return chg(Delete, typ, key, "") }
func rst() step                       { return step{reset: true} }

func chg(op Operation, typ, key, value string) step {
	c := Change{Type: typ, Key: key, Op: op}
	if op != Delete {
		c.Value = []byte(value)
	}
	return step{c: c, offset: "o1"}
}

func withTx(s step, txid string) step { s.c.TxID = txid; return s }

// table is a materialized state: (type, key) → value.
type table map[opKey]string

// materialize applies steps one by one to a copy of base, the way
// MaterializedState does: the expected state after the batch commits.
func materialize(base table, steps []step) table {
	t := maps.Clone(base)
	for _, s := range steps {
		switch {
		case s.reset:
			clear(t)
		case s.c.Op == Delete:
			delete(t, opKey{s.c.Type, s.c.Key})
		default:
			t[opKey{s.c.Type, s.c.Key}] = string(s.c.Value)
		}
	}
	return t
}

// applyBatch writes b onto a copy of base the way a sink does: the reset
// first, then the ops in order.
func applyBatch(base table, b *Batch) table {
	t := maps.Clone(base)
	if b.HasReset() {
		clear(t)
	}
	for _, op := range b.Ops() {
		if op.Delete {
			delete(t, opKey{op.Type, op.Key})
		} else {
			t[opKey{op.Type, op.Key}] = string(op.Value)
		}
	}
	return t
}

// feed adds steps to b, scribbling over each change's value afterwards the
// way a reused read buffer would.
func feed(b *Batch, steps []step) {
	for _, s := range steps {
		if s.reset {
			b.AddReset()
			continue
		}
		v := slices.Clone(s.c.Value)
		c := s.c
		c.Value = v
		b.AddChange(c, s.offset)
		for i := range v {
			v[i] = '#'
		}
	}
}

func TestBatchMatchesMaterializedState(t *testing.T) {
	t.Parallel()
	base := table{{"user", "old"}: `{"v":0}`, {"user", "a"}: `"stale"`}
	tests := []struct {
		name    string
		steps   []step
		wantOps int
	}{
		{"nothing", nil, 0},
		{"single insert", []step{ins("user", "a", `1`)}, 1},
		{"last write wins", []step{ins("user", "a", `1`), upd("user", "a", `2`), ups("user", "a", `3`)}, 1},
		{"delete after insert", []step{ins("user", "x", `1`), del("user", "x")}, 1},
		{"insert after delete", []step{del("user", "a"), ins("user", "a", `"back"`)}, 1},
		{"delete of a missing key", []step{del("user", "nobody")}, 1},
		{"same key in two types", []step{ins("user", "k", `1`), ins("team", "k", `2`), del("user", "k")}, 2},
		{"reset first", []step{rst(), ins("user", "b", `1`)}, 1},
		{"reset in the middle", []step{ins("user", "a", `1`), ins("user", "z", `2`), rst(), upd("user", "a", `3`), del("user", "q")}, 2},
		{"reset last", []step{ins("user", "a", `1`), rst()}, 0},
		{"two resets", []step{ins("user", "a", `1`), rst(), ins("user", "b", `2`), rst(), ins("user", "c", `3`)}, 1},
		{"delete then reset then insert", []step{del("user", "old"), rst(), ins("user", "old", `"new"`)}, 1},
		{
			name: "unsorted keys come out sorted",
			steps: []step{
				ins("user", "m", `1`), ins("team", "z", `2`), ins("user", "b", `3`), ins("user", "B", `4`),
				ins("user", "é", `5`), ins("user", "a", `6`), del("team", "a"), ins("user", "m", `7`),
			},
			wantOps: 7,
		},
		{"values of every JSON type", []step{ins("v", "n", `null`), ins("v", "s", `"s"`), ins("v", "a", `[1]`), ins("v", "b", `true`), ins("v", "f", `1.5`)}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := NewBatch()
			feed(b, tt.steps)
			assertBatch(t, b, base, tt.steps)
			if b.Len() != tt.wantOps {
				t.Errorf("Len() = %d, want %d", b.Len(), tt.wantOps)
			}
		})
	}
}

// assertBatch checks the invariants every batch must hold after steps.
func assertBatch(t *testing.T, b *Batch, base table, steps []step) {
	t.Helper()
	if got, want := applyBatch(base, b), materialize(base, steps); !maps.Equal(got, want) {
		t.Errorf("state after batch = %v, want %v", got, want)
	}
	ops := b.Ops()
	if len(ops) != b.Len() {
		t.Errorf("len(Ops()) = %d, Len() = %d", len(ops), b.Len())
	}
	for i := 1; i < len(ops); i++ {
		if compareOps(ops[i-1], ops[i]) >= 0 {
			t.Errorf("ops not strictly sorted at %d: %s/%s then %s/%s",
				i, ops[i-1].Type, ops[i-1].Key, ops[i].Type, ops[i].Key)
		}
	}
	for _, op := range ops {
		if op.Delete != (op.Value == nil) {
			t.Errorf("op %s/%s: Delete = %v with Value %q", op.Type, op.Key, op.Delete, op.Value)
		}
	}
	if got, want := b.Events(), countChanges(steps); got != want {
		t.Errorf("Events() = %d, want %d", got, want)
	}
}

func countChanges(steps []step) int {
	n := 0
	for _, s := range steps {
		if !s.reset {
			n++
		}
	}
	return n
}

func TestBatchOpFields(t *testing.T) {
	t.Parallel()
	b := NewBatch()
	b.AddChange(Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`), TxID: "a", Timestamp: "2025-01-01T00:00:00Z"}, "off-1")
	b.AddChange(Change{Type: "t", Key: "k", Op: Update, Value: []byte(`2`), TxID: "b"}, "off-2")
	b.AddChange(Change{Type: "t", Key: "d", Op: Delete, Value: []byte(`"ignored"`)}, "off-2")
	want := []Op{
		{Type: "t", Key: "d", Delete: true, Offset: "off-2"},
		{Type: "t", Key: "k", Value: []byte(`2`), TxID: "b", Offset: "off-2"},
	}
	got := b.Ops()
	if len(got) != len(want) {
		t.Fatalf("Ops() = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Key != w.Key || g.Delete != w.Delete || string(g.Value) != string(w.Value) ||
			(g.Value == nil) != (w.Value == nil) || g.TxID != w.TxID || g.Timestamp != w.Timestamp || g.Offset != w.Offset {
			t.Errorf("Ops()[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestBatchCountsAndTxIDs(t *testing.T) {
	t.Parallel()
	steps := []step{
		withTx(ins("t", "a", `1`), "tx2"),
		withTx(upd("t", "a", `2`), "tx1"),
		withTx(ups("t", "b", `3`), "tx2"),
		rst(),
		withTx(del("t", "a"), "tx3"),
		del("t", "b"),
		withTx(ins("t", "c", `4`), "tx1"),
	}
	b := NewBatch()
	b.AddReject(Reject{Raw: []byte(`nope`), Reason: "invalid JSON"})
	feed(b, steps)
	if got, want := b.Events(), 6; got != want {
		t.Errorf("Events() = %d, want %d", got, want)
	}
	wantCounts := map[Operation]int{Insert: 2, Update: 1, Upsert: 1, Delete: 2}
	if got := b.Counts(); !maps.Equal(got, wantCounts) {
		t.Errorf("Counts() = %v, want %v", got, wantCounts)
	}
	if got, want := b.TxIDs(), []string{"tx2", "tx1", "tx3"}; !slices.Equal(got, want) {
		t.Errorf("TxIDs() = %q, want %q", got, want)
	}
	if len(b.Rejects()) != 1 {
		t.Errorf("Rejects() = %v, want the one reject kept across the reset", b.Rejects())
	}
	if !b.HasReset() || b.Len() != 3 {
		t.Errorf("HasReset() = %v, Len() = %d, want true, 3", b.HasReset(), b.Len())
	}
}

func TestBatchRejectsAreCopied(t *testing.T) {
	t.Parallel()
	raw := []byte(`{"bad"`)
	b := NewBatch()
	b.AddReject(Reject{Raw: raw, ResponseOffset: "o", Position: 3, Reason: "invalid JSON: x"})
	copy(raw, "XXXXXX")
	r := b.Rejects()
	if len(r) != 1 || string(r[0].Raw) != `{"bad"` || r[0].Position != 3 || r[0].ResponseOffset != "o" {
		t.Errorf("Rejects() = %+v", r)
	}
}

func TestBatchEmptyAndClear(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		add  func(b *Batch)
	}{
		{"change", func(b *Batch) { b.AddChange(Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`)}, "o") }},
		{"reset", func(b *Batch) { b.AddReset() }},
		{"reject", func(b *Batch) { b.AddReject(Reject{Raw: []byte(`x`), Reason: "r"}) }},
		{"change then reset", func(b *Batch) {
			b.AddChange(Change{Type: "t", Key: "k", Op: Delete}, "o")
			b.AddReset()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := NewBatch()
			if !b.Empty() || b.Size() != 0 {
				t.Fatalf("new batch: Empty() = %v, Size() = %d", b.Empty(), b.Size())
			}
			tt.add(b)
			if b.Empty() {
				t.Errorf("Empty() = true after %s", tt.name)
			}
			b.Clear()
			assertCleared(t, b)
			feed(b, []step{ins("t", "z", `1`), ins("t", "a", `2`)})
			assertBatch(t, b, table{}, []step{ins("t", "z", `1`), ins("t", "a", `2`)})
		})
	}
}

// assertCleared checks that b holds nothing.
func assertCleared(t *testing.T, b *Batch) {
	t.Helper()
	if !b.Empty() || b.Size() != 0 || b.HasReset() || b.Len() != 0 || len(b.Ops()) != 0 ||
		len(b.Rejects()) != 0 || len(b.TxIDs()) != 0 || b.Events() != 0 || len(b.Counts()) != 0 {
		t.Errorf("after Clear: Empty=%v Size=%d HasReset=%v Len=%d Rejects=%d TxIDs=%d Events=%d Counts=%v",
			b.Empty(), b.Size(), b.HasReset(), b.Len(), len(b.Rejects()), len(b.TxIDs()), b.Events(), b.Counts())
	}
}

func TestBatchSize(t *testing.T) {
	t.Parallel()
	b := NewBatch()
	b.AddChange(Change{Type: "t", Key: "k", Op: Insert, Value: make([]byte, 1000)}, "o")
	big := b.Size()
	if big < 1000 {
		t.Fatalf("Size() = %d after a 1000-byte value", big)
	}
	b.AddChange(Change{Type: "t", Key: "k", Op: Update, Value: []byte(`1`)}, "o")
	if got := b.Size(); got >= big-900 {
		t.Errorf("Size() = %d after replacing the 1000-byte value by 1 byte (was %d)", got, big)
	}
	b.AddReset()
	if got := b.Size(); got != 0 {
		t.Errorf("Size() = %d after reset, want 0 (no txids or rejects held)", got)
	}
	b.AddReject(Reject{Raw: make([]byte, 500), Reason: "r"})
	if got := b.Size(); got < 500 {
		t.Errorf("Size() = %d with a 500-byte reject", got)
	}
}

func TestBatchZeroValueIsUsable(t *testing.T) {
	t.Parallel()
	var b Batch
	steps := []step{withTx(ins("t", "b", `1`), "x"), ins("t", "a", `2`), rst(), ins("t", "c", `3`)}
	feed(&b, steps)
	assertBatch(t, &b, table{}, steps)
}

// TestBatchRandom compares batches of random steps over a few keys with the
// materialized state, including a Clear between rounds.
func TestBatchRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	b := NewBatch()
	for round := range 200 {
		base := table{{"a", "k0"}: "base", {"b", "k1"}: "base"}
		steps := randomSteps(rng, rng.IntN(40))
		b.Clear()
		feed(b, steps)
		if t.Run(fmt.Sprint("round", round), func(t *testing.T) { assertBatch(t, b, base, steps) }) {
			continue
		}
		t.Fatalf("steps: %+v", steps)
	}
}

func randomSteps(rng *rand.Rand, n int) []step {
	types := []string{"a", "b", "c"}
	steps := make([]step, 0, n)
	for i := range n {
		typ, key := types[rng.IntN(len(types))], fmt.Sprint("k", rng.IntN(6))
		value := fmt.Sprint(i)
		switch rng.IntN(10) {
		case 0:
			steps = append(steps, rst())
		case 1, 2, 3:
			steps = append(steps, del(typ, key))
		case 4, 5:
			steps = append(steps, ins(typ, key, value))
		case 6, 7:
			steps = append(steps, upd(typ, key, value))
		default:
			steps = append(steps, ups(typ, key, value))
		}
	}
	return steps
}

// Prefetch is only a hint: a batch told of changes ahead (right ones, wrong
// ones, across a reset, a growing index and Clear) holds what one told of
// none holds.
func TestBatchPrefetchIsOnlyAHint(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	plain, hinted := NewBatch(), NewBatch()
	for round := range 3 {
		plain.Clear()
		hinted.Clear()
		var changes []Change
		for i := range 5000 {
			changes = append(changes, randomChange(rng, abTypes, 1500, i))
		}
		for i, c := range changes {
			switch j := i + PrefetchAhead; {
			case j < len(changes):
				hinted.Prefetch(changes[j].Type, changes[j].Key)
			case i%2 == 0:
				hinted.Prefetch("no such type", "no such key")
			}
			if i == 2500 && round == 1 {
				plain.AddReset()
				hinted.AddReset()
			}
			plain.AddChange(c, "o")
			hinted.AddChange(c, "o")
		}
		got, want := hinted.Ops(), plain.Ops()
		if len(got) != len(want) {
			t.Fatalf("round %d: %d ops with prefetch, %d without", round, len(got), len(want))
		}
		for i := range want {
			if !sameOp(got[i], want[i]) {
				t.Fatalf("round %d: op %d = %+v with prefetch, %+v without", round, i, got[i], want[i])
			}
		}
	}
}

// An empty key (which the decoder refuses, but AddChange's callers might
// pass) is stored like any other.
func TestBatchEmptyKey(t *testing.T) {
	t.Parallel()
	b := NewBatch()
	b.AddChange(Change{Type: "t", Key: "", Op: Insert, Value: []byte(`1`)}, "o")
	b.AddChange(Change{Type: "t", Key: "", Op: Update, Value: []byte(`2`), Timestamp: "2026-01-01T00:00:00Z"}, "o")
	if ops := b.Ops(); len(ops) != 1 || ops[0].Key != "" || string(ops[0].Value) != "2" || ops[0].Timestamp != "2026-01-01T00:00:00Z" {
		t.Fatalf("ops = %+v", ops)
	}
}
