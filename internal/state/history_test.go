package state

import (
	"testing"
)

// TestBatchHistory pins the history rows: every change event of a kept type,
// never coalesced, numbered among all change events from the seq base, kept
// through a reset, and numbered on after Clear.
func TestBatchHistory(t *testing.T) {
	b := NewBatch()
	b.SetHistory(func(typ string) bool { return typ == "m" })
	b.SetSeqBase(10)
	before := b.Size()
	b.AddChange(Change{Type: "m", Key: "a", Op: Insert, Value: []byte(`{"v":1}`)}, "o1")
	if b.Size() <= before {
		t.Fatalf("size did not grow with a history row: %d", b.Size())
	}
	b.AddChange(Change{Type: "u", Key: "a", Op: Insert, Value: []byte(`1`)}, "o1")
	b.AddChange(Change{Type: "m", Key: "a", Op: Update, Value: []byte(`{"v":2}`), OldValue: []byte(`{"v":1}`), TxID: "t1"}, "o2")
	b.AddReset()
	b.AddChange(Change{Type: "m", Key: "a", Op: Delete, DeleteValue: []byte(`{"v":2}`), Timestamp: "2026-01-01T00:00:00Z"}, "o3")
	b.AddChange(Change{Type: "m", Key: "b", Op: Upsert, Value: []byte(`null`)}, "o3")

	want := []HistoryRow{
		{Seq: 11, Type: "m", Key: "a", Op: Insert, Value: []byte(`{"v":1}`), Offset: "o1"},
		{Seq: 13, Type: "m", Key: "a", Op: Update, Value: []byte(`{"v":2}`), OldValue: []byte(`{"v":1}`), TxID: "t1", Offset: "o2"},
		{Seq: 14, Type: "m", Key: "a", Op: Delete, Value: []byte(`{"v":2}`), Timestamp: "2026-01-01T00:00:00Z", Offset: "o3"},
		{Seq: 15, Type: "m", Key: "b", Op: Upsert, Value: []byte(`null`), Offset: "o3"},
	}
	checkHistory(t, b.History(), want)
	if b.Len() != 2 {
		t.Fatalf("coalesced ops after the reset: %d, want 2", b.Len())
	}

	b.Clear()
	if len(b.History()) != 0 || !b.Empty() {
		t.Fatalf("Clear kept history rows: %v", b.History())
	}
	b.AddChange(Change{Type: "m", Key: "c", Op: Insert, Value: []byte(`3`)}, "o4")
	checkHistory(t, b.History(), []HistoryRow{{Seq: 16, Type: "m", Key: "c", Op: Insert, Value: []byte(`3`), Offset: "o4"}})
	if b.Empty() {
		t.Fatal("a batch holding a history row reports Empty")
	}
}

// TestBatchHistoryCopies checks that history rows own their bytes.
func TestBatchHistoryCopies(t *testing.T) {
	b := NewBatch()
	b.SetHistory(func(string) bool { return true })
	value, old := []byte(`{"a":1}`), []byte(`{"a":0}`)
	b.AddChange(Change{Type: "m", Key: "a", Op: Update, Value: value, OldValue: old}, "o1")
	copy(value, `{"a":9}`)
	copy(old, `{"a":9}`)
	h := b.History()[0]
	if string(h.Value) != `{"a":1}` || string(h.OldValue) != `{"a":0}` {
		t.Fatalf("history row aliases its input: value %s old %s", h.Value, h.OldValue)
	}
}

// TestBatchNoHistory checks that without SetHistory nothing is kept.
func TestBatchNoHistory(t *testing.T) {
	b := NewBatch()
	b.AddChange(Change{Type: "m", Key: "a", Op: Insert, Value: []byte(`1`)}, "o1")
	if len(b.History()) != 0 {
		t.Fatalf("history kept without SetHistory: %v", b.History())
	}
}

func checkHistory(t *testing.T, got, want []HistoryRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("history rows: got %d %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.Type != w.Type || g.Key != w.Key || g.Op != w.Op || string(g.Value) != string(w.Value) ||
			(g.Value == nil) != (w.Value == nil) || string(g.OldValue) != string(w.OldValue) || (g.OldValue == nil) != (w.OldValue == nil) ||
			g.TxID != w.TxID || g.Timestamp != w.Timestamp || g.Offset != w.Offset {
			t.Errorf("history row %d: got %+v, want %+v", i, g, w)
		}
	}
}

// TestDecodeOldValue checks that old_value, and the value a delete carries,
// reach the change for history tables.
func TestDecodeOldValue(t *testing.T) {
	ev := Decode([]byte(`{"type":"t","key":"k","value":{"x":1},"old_value":{"x":0},"headers":{"operation":"update"}}`))
	if ev.Kind != KindChange || string(ev.Change.OldValue) != `{"x":0}` || string(ev.Change.Value) != `{"x":1}` {
		t.Fatalf("update: %+v", ev)
	}
	ev = Decode([]byte(`{"type":"t","key":"k","value":{"x":2},"headers":{"operation":"delete"}}`))
	if ev.Kind != KindChange || ev.Change.Value != nil || string(ev.Change.DeleteValue) != `{"x":2}` || ev.Change.OldValue != nil {
		t.Fatalf("delete: %+v", ev)
	}
}

// TestBatchDeleteKeepsLastValue checks that a delete replacing a write of
// the same key keeps that write's value for tombstones, through repeated
// deletes, and that a delete of a key not written in the batch has none.
func TestBatchDeleteKeepsLastValue(t *testing.T) {
	b := NewBatch()
	b.AddChange(Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`)}, "o")
	b.AddChange(Change{Type: "t", Key: "k", Op: Update, Value: []byte(`2`)}, "o")
	b.AddChange(Change{Type: "t", Key: "k", Op: Delete}, "o")
	b.AddChange(Change{Type: "t", Key: "k", Op: Delete}, "o")
	b.AddChange(Change{Type: "t", Key: "x", Op: Delete}, "o")
	ops := b.Ops()
	if len(ops) != 2 || !ops[0].Delete || string(ops[0].LastValue) != `2` || ops[0].Value != nil {
		t.Fatalf("ops = %+v, want k deleted with last value 2", ops)
	}
	if ops[1].LastValue != nil {
		t.Fatalf("delete of a key not written in the batch has last value %q", ops[1].LastValue)
	}
	b.AddChange(Change{Type: "t", Key: "k", Op: Upsert, Value: []byte(`3`)}, "o")
	if op := b.Ops()[0]; op.Delete || op.LastValue != nil || string(op.Value) != `3` {
		t.Fatalf("upsert after the delete: %+v", op)
	}
}
