package mysql_test

import (
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// TestCheckChange: what MySQL's index limits cannot hold is refused before
// it reaches a batch; the longest key that fits is stored and read back.
func TestCheckChange(t *testing.T) {
	s := open(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	longest := strings.Repeat("鍵", 512) // 2,048 bytes of utf8mb4; (stream, key) still fits
	for _, c := range []state.Change{
		{Type: "t", Key: longest + "x"},
		{Type: strings.Repeat("t", 769), Key: "k"},
		{Type: "t", Key: "k", TxID: strings.Repeat("x", 513)},
		{Type: "t", Key: "k", Value: []byte(strings.Repeat("[", 101) + strings.Repeat("]", 101))},
	} {
		if reason := s.CheckChange(c); reason == "" {
			t.Errorf("change with key %d, type %d, txid %d characters accepted", len([]rune(c.Key)), len(c.Type), len(c.TxID))
		}
	}
	deep := []byte(`{"a":"[[[{\\","b":` + strings.Repeat("[", 29) + `{"x":"]]]"}` + strings.Repeat("]", 29) + `}`) // 31 levels
	ok := state.Change{Type: "t", Key: longest, Op: state.Upsert, Value: deep}
	if reason := s.CheckChange(ok); reason != "" {
		t.Fatalf("longest key refused: %s", reason)
	}
	if _, err := s.Checkpoint(t.Context(), "s", "http://x/s", "-1"); err != nil {
		t.Fatal(err)
	}
	b := state.NewBatch()
	b.AddChange(ok, "1")
	b.AddChange(state.Change{Type: "t", Key: "b", Op: state.Upsert, Value: deep}, "1")
	b.AddChange(state.Change{Type: "t", Key: "a ", Op: state.Upsert, Value: []byte(`2`)}, "1")
	b.AddChange(state.Change{Type: "t", Key: "a", Op: state.Upsert, Value: []byte(`3`)}, "1")
	b.AddChange(state.Change{Type: "t", Key: "A", Op: state.Upsert, Value: []byte(`4`)}, "1")
	tx, err := s.Begin(t.Context(), "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(t.Context(), sinkCommit("1", 5)); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Rows(t.Context(), "t")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.Key)
	}
	// Keys differing in case or a trailing space are distinct rows.
	if len(keys) != 5 || keys[0] != "A" || keys[1] != "a" || keys[2] != "a " || keys[3] != "b" || keys[4] != longest {
		t.Fatalf("keys = %q", keys)
	}
}

func sinkCommit(offset string, events int64) sink.Commit {
	return sink.Commit{NextOffset: offset, UpToDate: true, Events: events}
}

// TestDDLOutsideTheTransaction: a new type's table is registered and
// created before its rows are written, on a connection of its own, so a
// transaction that dies after the DDL (a crash, a rollback) leaves an empty
// registered table and no rows; the next transaction writes into it.
func TestDDLOutsideTheTransaction(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx, "s", "http://x/s", "-1"); err != nil {
		t.Fatal(err)
	}
	b := state.NewBatch()
	b.AddChange(state.Change{Type: "fresh", Key: "k", Op: state.Upsert, Value: []byte(`1`)}, "1")
	tx, err := s.Begin(ctx, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	types, err := s.Types(ctx)
	if err != nil || len(types) != 1 || types[0].Table != "fresh" {
		t.Fatalf("types after the rollback: %+v, %v", types, err)
	}
	if rows, err := s.Rows(ctx, "fresh"); err != nil || len(rows) != 0 {
		t.Fatalf("rows after the rollback: %+v, %v", rows, err)
	}
	tx, err = s.Begin(ctx, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, sinkCommit("1", 1)); err != nil {
		t.Fatal(err)
	}
	if rows, err := s.Rows(ctx, "fresh"); err != nil || len(rows) != 1 {
		t.Fatalf("rows after the commit: %+v, %v", rows, err)
	}
}
