package sqlite_test

import (
	"fmt"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/state"
)

// TestStagingAcrossChunks: ops staged many to a statement, in full
// statements and a shorter last one, over two Writes of one transaction
// whose second rewrites and deletes keys of the first, leave each key's
// last op; an empty txid is NULL, an empty offset stays empty.
func TestStagingAcrossChunks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openStream(t)
	first, second := state.NewBatch(), state.NewBatch()
	for i := range 250 {
		offset := "1"
		if i == 249 {
			offset = ""
		}
		first.AddChange(state.Change{Type: "item", Key: fmt.Sprintf("k%03d", i), Op: state.Upsert, Value: fmt.Appendf(nil, `{"v":%d}`, i)}, offset)
	}
	want := map[string]string{}
	wantNulls := 20 // k230 to k249, of the first Write only
	for i := range 230 {
		key := fmt.Sprintf("k%03d", i)
		if i%3 == 0 {
			second.AddChange(state.Change{Type: "item", Key: key, Op: state.Delete}, "2")
			continue
		}
		txid := "" // every other row has none
		if i%2 == 1 {
			txid = "t1"
		} else {
			wantNulls++
		}
		second.AddChange(state.Change{Type: "item", Key: key, Op: state.Upsert, Value: fmt.Appendf(nil, `{"w":%d}`, i), TxID: txid}, "2")
		want[key] = fmt.Sprintf(`{"w":%d}`, i)
	}
	for i := 230; i < 250; i++ {
		want[fmt.Sprintf("k%03d", i)] = fmt.Sprintf(`{"v":%d}`, i)
	}
	tx, err := s.Begin(ctx, "s", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*sink.Batch{first, second} {
		if err := tx.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Commit(ctx, sink.Commit{NextOffset: "2"}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.(sink.Inspector).Rows(ctx, "item")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Key] = string(r.Value)
		wantOffset, wantTxID := "2", ""
		var i int
		fmt.Sscanf(r.Key, "k%d", &i)
		switch {
		case i == 249:
			wantOffset = ""
		case i >= 230:
			wantOffset = "1"
		case i%2 == 1:
			wantTxID = "t1"
		}
		if r.SyncedOffset != wantOffset || r.TxID != wantTxID {
			t.Errorf("row %s: synced_offset %q txid %q, want %q %q", r.Key, r.SyncedOffset, r.TxID, wantOffset, wantTxID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows = %v\nwant %v", got, want)
	}
	var nulls, empty int
	err = s.(*sqlite.Sink).DB().QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE txid IS NULL), count(*) FILTER (WHERE txid = '') FROM item`).Scan(&nulls, &empty)
	if err != nil || empty != 0 || nulls != wantNulls {
		t.Errorf("txids: %d NULL, %d empty (%v); want %d NULL, none empty", nulls, empty, err, wantNulls)
	}
}

// TestResetDropsStagedTypes: a reset in a later Write drops the ops the
// earlier Writes staged, so Commit neither creates nor reports the table
// of a type whose ops were all dropped.
func TestResetDropsStagedTypes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openStream(t)
	before, after := state.NewBatch(), state.NewBatch()
	before.AddChange(state.Change{Type: "dropped", Key: "k", Op: state.Upsert, Value: []byte(`1`)}, "1")
	after.AddReset()
	after.AddChange(state.Change{Type: "kept", Key: "k", Op: state.Upsert, Value: []byte(`2`)}, "2")
	tx, err := s.Begin(ctx, "s", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*sink.Batch{before, after} {
		if err := tx.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tx.Commit(ctx, sink.Commit{NextOffset: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Tables) != "[kept]" {
		t.Errorf("tables written: %v, want [kept]", res.Tables)
	}
	types, err := s.(sink.Inspector).Types(ctx)
	if err != nil || len(types) != 1 || types[0].Type != "kept" {
		t.Errorf("types: %+v (%v), want kept only", types, err)
	}
}

// openStream returns a migrated sink with the checkpoint of stream "s" at
// offset "0".
func openStream(t *testing.T) sink.Sink {
	t.Helper()
	s := open(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(t.Context(), "s", "u", "0"); err != nil {
		t.Fatal(err)
	}
	return s
}
