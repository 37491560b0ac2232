package sinktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

func testMigrate(t *testing.T, open Opener) {
	s := Open(t, open)
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	// Replicas starting together migrate at once.
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() { errs <- s.Migrate(ctx(t)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	if names := streamNames(t, s); len(names) != 0 {
		t.Fatalf("fresh database has checkpoints %v", names)
	}
}

func testCheckpoint(t *testing.T, s Sink) {
	c := ctx(t)
	cp, err := s.Checkpoint(c, "b", "http://x/b", "now")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Stream != "b" || cp.URL != "http://x/b" || cp.NextOffset != "now" || cp.UpToDate || cp.Closed ||
		cp.EventsApplied != 0 || cp.Rejects != 0 || cp.UpdatedAt.IsZero() {
		t.Fatalf("new checkpoint = %+v", cp)
	}
	commit(t, s, "b", "now", "0001", batch(upsert("t", "k", `1`)))
	// Reloading keeps the offset whatever the start offset; a new URL is recorded.
	cp, err = s.Checkpoint(c, "b", "http://y/b", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if cp.NextOffset != "0001" || cp.URL != "http://y/b" || !cp.UpToDate || cp.EventsApplied != 1 {
		t.Fatalf("reloaded checkpoint = %+v", cp)
	}
	checkpoint(t, s, "a")
	if got := streamNames(t, s); strings.Join(got, ",") != "a,b" {
		t.Fatalf("Checkpoints = %v, want a,b in order", got)
	}
}

func testUpsertDeleteIdempotent(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(upsert("item", "gone", `0`)))
	b := batch(upsert("item", "a", `{"n":1}`), upsert("item", "b", `{"n":2}`), del("item", "gone"), del("item", "never"))
	commit(t, s, "s", "1", "2", b)
	want := map[string]string{"a": `{"n":1}`, "b": `{"n":2}`}
	wantRows(t, s, "item", want)
	// The same batch applied again (a retry after an unknown commit outcome,
	// once the checkpoint was reloaded) changes nothing.
	commit(t, s, "s", "2", "3", b)
	wantRows(t, s, "item", want)
	// Coalescing: only the last op of a key counts.
	commit(t, s, "s", "3", "4", batch(upsert("item", "a", `1`), del("item", "a"), del("item", "b"), upsert("item", "b", `3`)))
	wantRows(t, s, "item", map[string]string{"b": `3`})
}

func testReplayConflicts(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	b := batch(upsert("item", "a", `1`))
	commit(t, s, "s", "-1", "1", b)
	_, err := s.Begin(ctx(t), "s", "-1")
	wantConflict(t, err)
	_, err = s.Begin(ctx(t), "nobody", "-1")
	wantConflict(t, err)
	wantRows(t, s, "item", map[string]string{"a": `1`})
	if cp := wantCheckpoint(t, s, "s", "1"); cp.EventsApplied != 1 {
		t.Fatalf("events_applied = %d after a refused replay", cp.EventsApplied)
	}
}

// testSecondWriterConflicts: two writers of one stream that began at the
// same offset. On Postgres the second waits in Begin for the first to end;
// on SQLite it begins and writes, and fails at Commit once the first committed. Either way the second gets ErrConflict and
// writes nothing.
func testSecondWriterConflicts(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "s")
	tx1, err := s.Begin(c, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	firstDone := make(chan struct{})
	go func() {
		tx2, err := s.Begin(c, "s", "-1")
		if err == nil {
			defer func() { _ = tx2.Rollback(c) }()
			if err = tx2.Write(c, batch(upsert("item", "second", `2`))); err == nil {
				<-firstDone
				_, err = tx2.Commit(c, sink.Commit{NextOffset: "2b", Events: 1})
			}
		}
		second <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the second writer start; the outcome does not depend on it
	if err := tx1.Write(c, batch(upsert("item", "first", `1`))); err != nil {
		t.Fatal(err)
	}
	if _, err := tx1.Commit(c, sink.Commit{NextOffset: "1", Events: 1}); err != nil {
		t.Fatal(err)
	}
	close(firstDone)
	wantConflict(t, <-second)
	wantRows(t, s, "item", map[string]string{"first": `1`})
	if cp := wantCheckpoint(t, s, "s", "1"); cp.EventsApplied != 1 {
		t.Fatalf("events_applied = %d", cp.EventsApplied)
	}
}

func testHostileTypeNames(t *testing.T, s Sink) {
	long := strings.Repeat("L", 200)
	want := map[string]string{ // type → table
		"select":            "select",
		"User":              "user", // "User" sorts (and registers) before "user"
		"user":              table.SuffixedName("user", 8),
		`we"ird`:            "we_ird",
		"1st":               "t_1st",
		"syncd_checkpoints": table.SuffixedName("syncd_checkpoints", 8),
		"syncd_migrations":  table.SuffixedName("syncd_migrations", 8),
		"sqlite_master":     table.SuffixedName("sqlite_master", 8),
		long:                strings.Repeat("l", 63),
		"a;drop table x":    "a_drop_table_x",
		"日本":                "__",
		"x y":               "x_y",
		"x-y":               table.SuffixedName("x-y", 8), // after "x y" took x_y
	}
	checkpoint(t, s, "s")
	var changes []change
	for typ := range want {
		changes = append(changes, upsert(typ, "k", fmt.Sprintf("%q", typ)))
	}
	commit(t, s, "s", "-1", "1", batch(changes...))
	types, err := s.Types(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != len(want) {
		t.Fatalf("%d types registered, want %d: %v", len(types), len(want), types)
	}
	for _, tt := range types {
		if tt.Table != want[tt.Type] {
			t.Errorf("type %q got table %q, want %q", tt.Type, tt.Table, want[tt.Type])
		}
		if tt.KeyScope != "global" {
			t.Errorf("type %q has key_scope %q", tt.Type, tt.KeyScope)
		}
		wantRows(t, s, tt.Type, map[string]string{"k": fmt.Sprintf("%q", tt.Type)})
	}
	// The internal tables are untouched and still work.
	if cp := wantCheckpoint(t, s, "s", "1"); cp.EventsApplied != int64(len(want)) {
		t.Fatalf("events_applied = %d", cp.EventsApplied)
	}
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatalf("migrate after hostile types: %v", err)
	}
	commit(t, s, "s", "1", "2", batch(upsert("select", "k2", `2`)))
}

func testResetOnlyThisStream(t *testing.T, s Sink) {
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	commit(t, s, "a", "-1", "a1", batch(upsert("item", "a1", `1`), upsert("item", "a2", `2`), upsert("other", "a", `0`)))
	commit(t, s, "b", "-1", "b1", batch(upsert("item", "b1", `1`), upsert("other", "b", `0`)))
	rb := state.NewBatch()
	rb.AddReset()
	rb.AddChange(state.Change{Type: "item", Key: "a3", Op: state.Insert, Value: []byte(`3`)}, "a2")
	commit(t, s, "a", "a1", "a2", rb)
	wantRows(t, s, "item", map[string]string{"a3": `3`, "b1": `1`})
	wantRows(t, s, "other", map[string]string{"b": `0`})
}

// testSeveralWrites: the Writes of one transaction add up, and so does a
// last batch written with the commit (Tx.WriteCommit): into a type
// staged by an earlier Write, a type with rows, and a new type (a dialect
// may load the last straight from the batch, but not into a table that
// is empty only because the earlier Writes are not applied yet).
func testSeveralWrites(t *testing.T, s Sink) {
	for _, final := range []bool{false, true} {
		t.Run(fmt.Sprintf("final=%v", final), func(t *testing.T) {
			c := ctx(t)
			stream, item, fresh, held := "s", "item", "new", "held"
			if final {
				stream, item, fresh, held = "f", "item f", "new f", "held f"
			}
			checkpoint(t, s, stream)
			commit(t, s, stream, "-1", "0", batch(upsert(item, "old", `0`), upsert(held, "h", `0`), upsert(held, "gone", `0`)))
			tx, err := s.Begin(c, stream, "0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
			if err := tx.Write(c, batch(upsert(item, "a", `1`), upsert(item, "b", `1`), upsert(fresh, "e", `1`))); err != nil {
				t.Fatal(err)
			}
			last := batch(upsert(item, "a", `2`), del(item, "b"), del(item, "old"), upsert(fresh, "c", `1`), del(fresh, "d"),
				upsert(held, "h", `1`), del(held, "gone"))
			finish(t, tx, last, sink.Commit{NextOffset: "1", UpToDate: true, Events: 10}, final)
			wantRows(t, s, item, map[string]string{"a": `2`})
			wantRows(t, s, fresh, map[string]string{"c": `1`, "e": `1`})
			wantRows(t, s, held, map[string]string{"h": `1`})
			for _, r := range fullRows(t, s, fresh) {
				if r.Stream != stream {
					t.Fatalf("row %s of %s: stream %q, want %s", r.Key, fresh, r.Stream, stream)
				}
			}
		})
	}
}

// finish writes the transaction's last batch b and commits c: with the
// commit (Tx.WriteCommit) when final, else Write then Commit.
func finish(t *testing.T, tx sink.Tx, b *sink.Batch, c sink.Commit, final bool) {
	t.Helper()
	ctx := ctx(t)
	var err error
	if final {
		_, err = tx.WriteCommit(ctx, b, c)
	} else if err = tx.Write(ctx, b); err == nil {
		_, err = tx.Commit(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// testResetAfterFlush: a reset in a later Write of the same transaction
// removes what the earlier Writes of the stream put there, also when that
// Write goes with the commit.
func testResetAfterFlush(t *testing.T, s Sink) {
	for _, final := range []bool{false, true} {
		t.Run(fmt.Sprintf("final=%v", final), func(t *testing.T) {
			c := ctx(t)
			stream, other, item := "s", "other", "item"
			if final {
				stream, other, item = "f", "other f", "item f"
			}
			checkpoint(t, s, stream)
			checkpoint(t, s, other)
			commit(t, s, stream, "-1", "0", batch(upsert(item, "old", `0`)))
			commit(t, s, other, "-1", "0", batch(upsert(item, "theirs", `0`)))
			tx, err := s.Begin(c, stream, "0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
			if err := tx.Write(c, batch(upsert(item, "flushed", `1`))); err != nil {
				t.Fatal(err)
			}
			b := state.NewBatch()
			b.AddReset()
			b.AddChange(state.Change{Type: item, Key: "after", Op: state.Upsert, Value: []byte(`2`)}, "1")
			finish(t, tx, b, sink.Commit{NextOffset: "1", UpToDate: true, Events: 2}, final)
			wantRows(t, s, item, map[string]string{"after": `2`, "theirs": `0`})
		})
	}
}

func testJSONValues(t *testing.T, s Sink) {
	values := map[string]string{
		"null":    `null`,
		"true":    `true`,
		"int":     `42`,
		"neg":     `-7`,
		"float":   `1.5`,
		"big":     `12345678901234567890`,
		"string":  `"hello"`,
		"empty":   `""`,
		"unicode": `"日本 \u00e9 \ud83d\ude00"`,
		"array":   `[1, "a", null, [], {}]`,
		"object":  `{"b": {"x": [true, false]}, "a": null}`,
	}
	checkpoint(t, s, "s")
	var changes []change
	for k, v := range values {
		changes = append(changes, upsert("v", k, v))
	}
	commit(t, s, "s", "-1", "1", batch(changes...))
	wantRows(t, s, "v", values)
	for _, r := range fullRows(t, s, "v") {
		if r.Key == "null" && string(r.Value) != "null" {
			t.Fatalf("JSON null stored as %q", r.Value)
		}
	}
}

func testRowMetadata(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	before := time.Now().Add(-time.Minute)
	commit(t, s, "s", "-1", "o2", batch(
		change{typ: "m", key: "a", value: `1`, txid: "tx1", ts: "2024-05-06T07:08:09.123Z", offset: "o1"},
		change{typ: "m", key: "b", value: `2`, ts: "2024-05-06T09:08:09+02:00", offset: "o2"},
		change{typ: "m", key: "c", value: `3`, offset: "o2"},
	))
	rs := fullRows(t, s, "m")
	if len(rs) != 3 {
		t.Fatalf("rows = %+v", rs)
	}
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	want := []struct {
		txid, offset string
		at           time.Time
	}{{"tx1", "o1", ts}, {"", "o2", ts.Add(-123 * time.Millisecond)}, {"", "o2", time.Time{}}}
	for i, r := range rs {
		w := want[i]
		if r.Stream != "s" || r.TxID != w.txid || r.SyncedOffset != w.offset || !r.EventTime.Equal(w.at) {
			t.Errorf("row %s = %+v, want txid %q offset %q event_time %v", r.Key, r, w.txid, w.offset, w.at)
		}
		if r.SyncedAt.Before(before) || r.SyncedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("row %s synced_at %v is not about now", r.Key, r.SyncedAt)
		}
	}
}

func testTxIDs(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(
		change{typ: "m", key: "a", value: `1`, txid: "t1"},
		change{typ: "m", key: "b", value: `1`, txid: "t2"},
		change{typ: "m", key: "a", value: `2`, txid: "t1"},
		change{typ: "m", key: "c", txid: "t3"}, // a delete's txid counts too
	))
	commit(t, s, "s", "1", "2", batch(change{typ: "m", key: "d", value: `1`, txid: "t2"}))
	got, err := s.TxIDs(ctx(t), "s")
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, r := range got {
		desc = append(desc, r.TxID+"@"+r.NextOffset)
		if r.Stream != "s" || r.CommittedAt.IsZero() {
			t.Errorf("txid row %+v", r)
		}
	}
	if strings.Join(desc, ",") != "t1@1,t2@2,t3@1" {
		t.Fatalf("txids = %v, want t1@1,t2@2,t3@1", desc)
	}
}

func testRejects(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	raws := [][]byte{
		{0xff, 0xfe, '{', 0x00, 'x', 0x80},
		[]byte(`{"type":"t"}`),
		{},
	}
	b := batch(upsert("m", "a", `1`))
	for i, raw := range raws {
		b.AddReject(state.Reject{Raw: raw, ResponseOffset: "r1", Position: i + 3, Reason: fmt.Sprintf("reason %d", i)})
	}
	commit(t, s, "s", "-1", "1", b)
	got, err := s.Rejects(ctx(t), "s", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(raws) {
		t.Fatalf("%d rejects, want %d", len(got), len(raws))
	}
	for i, r := range got {
		if !bytes.Equal(r.Raw, raws[i]) || r.Stream != "s" || r.ResponseOffset != "r1" || r.Position != i+3 ||
			r.Reason != fmt.Sprintf("reason %d", i) || r.CreatedAt.IsZero() || r.ID == 0 {
			t.Errorf("reject %d = %+v (raw %x), want raw %x", i, r, r.Raw, raws[i])
		}
	}
	if cp := wantCheckpoint(t, s, "s", "1"); cp.Rejects != 3 {
		t.Fatalf("rejects counter = %d", cp.Rejects)
	}
	wantRows(t, s, "m", map[string]string{"a": `1`})

	// A reject that carried a txid is found by it, the latest first.
	b = batch()
	b.AddReject(state.Reject{Raw: []byte(`{"headers":{"txid":"tx-r"}}`), ResponseOffset: "1", Position: 0, Reason: "first", TxID: "tx-r"})
	b.AddReject(state.Reject{Raw: []byte(`{"headers":{"txid":"tx-r"}}`), ResponseOffset: "1", Position: 1, Reason: "second", TxID: "tx-r"})
	commit(t, s, "s", "1", "2", b)
	rej, err := s.RejectedTxID(ctx(t), "tx-r")
	if err != nil || len(rej) != 2 || rej[0].Reason != "second" || rej[0].Stream != "s" || rej[0].ResponseOffset != "1" {
		t.Errorf("RejectedTxID(tx-r) = %+v, %v; want both rejects, the latest first", rej, err)
	}
	if rej, err := s.RejectedTxID(ctx(t), "tx-none"); err != nil || len(rej) != 0 {
		t.Errorf("RejectedTxID(tx-none) = %+v, %v; want none", rej, err)
	}
}

func testCounters(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	b := batch(upsert("m", "a", `1`), upsert("m", "a", `2`), upsert("m", "b", `1`))
	b.AddReject(state.Reject{Raw: []byte("x"), ResponseOffset: "-1", Reason: "bad"})
	commit(t, s, "s", "-1", "1", b)
	commit(t, s, "s", "1", "2", batch(del("m", "a"), del("m", "b")))
	cp := wantCheckpoint(t, s, "s", "2")
	if cp.EventsApplied != 5 || cp.Rejects != 1 {
		t.Fatalf("counters = %d events, %d rejects; want 5, 1", cp.EventsApplied, cp.Rejects)
	}
}

func testCommitWithoutWrite(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "s")
	tx, err := s.Begin(c, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(c, sink.Commit{NextOffset: "end", UpToDate: true, Closed: true}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(c); err != nil {
		t.Fatalf("rollback after commit: %v", err)
	}
	if _, err := tx.Commit(c, sink.Commit{NextOffset: "again"}); err == nil {
		t.Fatal("second commit succeeded")
	}
	if cp := wantCheckpoint(t, s, "s", "end"); !cp.UpToDate || !cp.Closed {
		t.Fatalf("checkpoint = %+v", cp)
	}
}

func testRollback(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(upsert("m", "keep", `1`)))
	tx, err := s.Begin(c, "s", "1")
	if err != nil {
		t.Fatal(err)
	}
	b := batch(upsert("m", "keep", `2`), upsert("m", "new", `1`), upsert("brand_new", "x", `1`))
	b.AddReset()
	b.AddChange(state.Change{Type: "m", Key: "after", Op: state.Insert, Value: []byte(`1`)}, "2")
	b.AddReject(state.Reject{Raw: []byte("x"), ResponseOffset: "1", Reason: "bad"})
	if err := tx.Write(c, b); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(c)
	cancel()
	if err := tx.Rollback(cancelled); err != nil { // a cancelled context still rolls back
		t.Fatal(err)
	}
	if err := tx.Rollback(c); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	if err := tx.Write(c, batch()); err == nil {
		t.Fatal("write after rollback succeeded")
	}
	wantRows(t, s, "m", map[string]string{"keep": `1`})
	if cp := wantCheckpoint(t, s, "s", "1"); cp.EventsApplied != 1 || cp.Rejects != 0 {
		t.Fatalf("checkpoint = %+v", cp)
	}
	if rs, err := s.Rejects(c, "s", 10); err != nil || len(rs) != 0 {
		t.Fatalf("rejects after rollback: %v, %v", rs, err)
	}
	// The stream goes on from its checkpoint.
	commit(t, s, "s", "1", "2", batch(upsert("m", "next", `1`)))
	wantRows(t, s, "m", map[string]string{"keep": `1`, "next": `1`})
}

func testResetStream(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	ba := batch(change{typ: "m", key: "a", value: `1`, txid: "ta"}, upsert("n", "a", `1`))
	ba.AddReject(state.Reject{Raw: []byte("x"), ResponseOffset: "-1", Reason: "bad"})
	commit(t, s, "a", "-1", "1", ba)
	commit(t, s, "b", "-1", "1", batch(change{typ: "m", key: "b", value: `1`, txid: "tb"}))
	if err := s.ResetStream(c, "a"); err != nil {
		t.Fatal(err)
	}
	wantRows(t, s, "m", map[string]string{"b": `1`})
	wantRows(t, s, "n", map[string]string{})
	if got := streamNames(t, s); strings.Join(got, ",") != "b" {
		t.Fatalf("streams after reset = %v", got)
	}
	if rs, _ := s.Rejects(c, "a", 10); len(rs) != 0 {
		t.Fatalf("rejects of a reset stream: %v", rs)
	}
	if ids, _ := s.TxIDs(c, "a"); len(ids) != 0 {
		t.Fatalf("txids of a reset stream: %v", ids)
	}
	if ids, _ := s.TxIDs(c, "b"); len(ids) != 1 {
		t.Fatalf("txids of b: %v", ids)
	}
	if err := s.ResetStream(c, "a"); !errors.Is(err, sink.ErrNotFound) {
		t.Fatalf("reset of a missing stream: %v, want sink.ErrNotFound", err)
	}
	// The writer that was at "1" is fenced off; a restart begins again.
	_, err := s.Begin(c, "a", "1")
	wantConflict(t, err)
	if cp := checkpoint(t, s, "a"); cp.NextOffset != "-1" || cp.EventsApplied != 0 {
		t.Fatalf("checkpoint after reset = %+v", cp)
	}
}

func testConcurrentStreams(t *testing.T, s Sink) {
	const streams, commits, perCommit = 8, 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		stream := fmt.Sprintf("s%d", i)
		checkpoint(t, s, stream)
		wg.Go(func() { errs <- writeStream(ctx(t), s, stream, commits, perCommit) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rows(t, s, "shared")); n != streams*commits*perCommit {
		t.Fatalf("shared has %d rows, want %d", n, streams*commits*perCommit)
	}
	for i := range streams {
		stream := fmt.Sprintf("s%d", i)
		if n := len(rows(t, s, "own_"+stream)); n != commits {
			t.Fatalf("own_%s has %d rows", stream, n)
		}
		if cp := wantCheckpoint(t, s, stream, fmt.Sprint(commits)); cp.EventsApplied != commits*(perCommit+1) {
			t.Fatalf("%s events_applied = %d", stream, cp.EventsApplied)
		}
	}
}

// writeStream commits n batches to the shared table and the stream's own.
func writeStream(c context.Context, s sink.Sink, stream string, n, per int) error {
	offset := "-1"
	for i := range n {
		b := state.NewBatch()
		next := fmt.Sprint(i + 1)
		for _, k := range keys(fmt.Sprintf("%s-%d-", stream, i), per) {
			b.AddChange(state.Change{Type: "shared", Key: k, Op: state.Upsert, Value: []byte(`{"s":"` + stream + `"}`), TxID: k}, next)
		}
		b.AddChange(state.Change{Type: "own_" + stream, Key: next, Op: state.Insert, Value: []byte(`1`)}, next)
		tx, err := s.Begin(c, stream, offset)
		if err != nil {
			return err
		}
		err = tx.Write(c, b)
		if err == nil {
			_, err = tx.Commit(c, sink.Commit{NextOffset: next, UpToDate: true, Events: int64(b.Events())})
		}
		if err != nil {
			_ = tx.Rollback(c)
			return fmt.Errorf("%s commit %d: %w", stream, i, err)
		}
		offset = next
	}
	return nil
}

// testOpenTxDoesNotBlockOthers: a stream whose transaction stays open across
// flushes (a long catch-up) does not stop another stream from committing,
// even to the same table. On SQLite this is what staging buys.
func testOpenTxDoesNotBlockOthers(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "slow")
	checkpoint(t, s, "live")
	slow, err := s.Begin(c, "slow", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := slow.Write(c, batch(upsert("item", "s1", `1`), upsert("slow_only", "x", `1`))); err != nil {
		t.Fatal(err)
	}
	// If the open transaction blocked the live stream this would time out.
	short, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	live, err := s.Begin(short, "live", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Write(short, batch(upsert("item", "l1", `1`))); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Commit(short, sink.Commit{NextOffset: "1", UpToDate: true, Events: 1}); err != nil {
		t.Fatalf("live commit while another stream's transaction is open: %v", err)
	}
	wantRows(t, s, "item", map[string]string{"l1": `1`})
	if err := slow.Write(c, batch(upsert("item", "s2", `1`))); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Commit(c, sink.Commit{NextOffset: "2", UpToDate: true, Events: 3}); err != nil {
		t.Fatal(err)
	}
	wantRows(t, s, "item", map[string]string{"l1": `1`, "s1": `1`, "s2": `1`})
}
