package sinktest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// gatedTests run only on sinks whose Capabilities satisfy needs.
var gatedTests = []struct {
	name  string
	needs func(sink.Capabilities) bool
	fn    func(t *testing.T, s Sink)
}{
	{"BeginWaitsForOpenTx", func(c sink.Capabilities) bool { return c.BeginLocks }, testBeginWaits},
	{"BeginTakesNoLock", func(c sink.Capabilities) bool { return !c.BeginLocks }, testBeginTakesNoLock},
	{"Leases", func(c sink.Capabilities) bool { return c.Leases }, testLeases},
	{"NoLeases", func(c sink.Capabilities) bool { return !c.Leases }, testNoLeases},
}

// testResult: Commit returns the tables it wrote (reset ones included), the
// distinct txids of every Write in first-seen order, and the conversion
// NULLs per column; a rolled-back transaction returns nothing.
func testResult(t *testing.T, s Sink) {
	cols := []table.Column{{Name: "n", Path: "n", Type: table.BigInt}, {Name: "ok", Path: "ok", Type: table.Boolean}, {Name: "raw", Path: "n", Type: table.Text}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "Doc", Table: "docs", KeyScope: table.ScopeStream, Columns: cols}}})
	checkpoint(t, s, "s")
	checkpoint(t, s, "other")
	commit(t, s, "other", "-1", "1", batch(upsert("theirs", "k", `1`)))
	c := ctx(t)
	tx, err := s.Begin(c, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	for _, b := range []*sink.Batch{
		batch(change{typ: "item", key: "a", value: `1`, txid: "t2"}, change{typ: "Doc", key: "d1", value: `{"n":"x","ok":1}`, txid: "t1"}),
		batch(change{typ: "item", key: "b", value: `1`, txid: "t1"}, change{typ: "Doc", key: "d2", value: `{"n":"y"}`, txid: "t3"}),
		batch(change{typ: "gone", key: "g", txid: "t2"}, change{typ: "Doc", key: "d3", value: `{"n":3,"ok":true}`}),
	} {
		if err := tx.Write(c, b); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tx.Commit(c, sink.Commit{NextOffset: "1", Events: 6})
	if err != nil {
		t.Fatal(err)
	}
	// t2 is seen first (item a), t1 again in the second Write, t2 in the third.
	wantTables := []string{"docs", tableOf(t, s, "gone"), tableOf(t, s, "item")}
	slices.Sort(wantTables)
	want := sink.Result{
		Tables: wantTables,
		TxIDs:  []string{"t2", "t1", "t3"},
		Nulls:  []sink.ColumnNulls{{Table: "docs", Column: "n", N: 2}, {Table: "docs", Column: "ok", N: 1}},
	}
	wantResult(t, res, want)

	// A reset counts the tables it removed the stream's rows from, not the
	// other tables.
	b := state.NewBatch()
	b.AddReset()
	res = commit(t, s, "s", "1", "2", b)
	wantResult(t, res, sink.Result{Tables: []string{"docs", tableOf(t, s, "item")}})

	// A transaction that wrote nothing reports nothing.
	wantResult(t, commit(t, s, "s", "2", "3", batch()), sink.Result{})
}

// wantResult compares results, treating nil and empty slices alike.
func wantResult(t *testing.T, got, want sink.Result) {
	t.Helper()
	if fmt.Sprint(got.Tables) != fmt.Sprint(want.Tables) || fmt.Sprint(got.TxIDs) != fmt.Sprint(want.TxIDs) ||
		fmt.Sprint(got.Nulls) != fmt.Sprint(want.Nulls) {
		t.Fatalf("result:\n got %+v\nwant %+v", got, want)
	}
}

// testLargeBatch drives the dialects' bulk paths (Postgres COPY): two types
// past the threshold in one Write, with txids, event times and JSON nulls.
func testLargeBatch(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	const n = 1500
	b := state.NewBatch()
	for _, typ := range []string{"a", "b"} {
		for i := range n {
			c := state.Change{Type: typ, Key: fmt.Sprintf("%s%05d", typ, i), Op: state.Upsert, Value: []byte(fmt.Sprint(i))}
			switch i % 3 {
			case 0:
				c.Value = []byte("null")
			case 1:
				c.TxID, c.Timestamp = fmt.Sprint("tx", i%10), "2024-01-02T03:04:05Z"
			}
			b.AddChange(c, "o1")
		}
	}
	res := commit(t, s, "s", "-1", "o1", b)
	if len(res.TxIDs) != 10 || strings.Join(res.Tables, ",") != "a,b" {
		t.Fatalf("result = tables %v, %d txids", res.Tables, len(res.TxIDs))
	}
	for _, typ := range []string{"a", "b"} {
		rows := fullRows(t, s, typ)
		if len(rows) != n {
			t.Fatalf("%s has %d rows, want %d", typ, len(rows), n)
		}
		for i, r := range rows {
			want := fmt.Sprint(i)
			if i%3 == 0 {
				want = "null"
			}
			wantTx, wantAt := "", time.Time{}
			if i%3 == 1 {
				wantTx, wantAt = fmt.Sprint("tx", i%10), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
			}
			if r.Key != fmt.Sprintf("%s%05d", typ, i) || canonical(t, r.Value) != want || r.TxID != wantTx ||
				!r.EventTime.Equal(wantAt) || r.Stream != "s" || r.SyncedOffset != "o1" {
				t.Fatalf("%s row %d = %+v", typ, i, r)
			}
		}
	}
}

// testManyLongTxIDs: a commit carrying thousands of long txids succeeds
// (Postgres must cut its notification to fit the payload limit).
func testManyLongTxIDs(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	var changes []change
	for i := range 2000 {
		id := strings.Repeat("x", 20) + string(rune('a'+i%26)) + strings.Repeat("y", i%7) + time.Duration(i).String()
		changes = append(changes, change{typ: "t", key: id, value: `1`, txid: id})
	}
	if res := commit(t, s, "s", "-1", "1", batch(changes...)); len(res.TxIDs) != 2000 {
		t.Fatalf("%d txids committed, want 2000", len(res.TxIDs))
	}
}

// testBeginWaits: where Begin holds the checkpoint row lock, a second Begin
// of the stream blocks while the first transaction is open (reloading the
// checkpoint does not), then gets ErrConflict once the first commits.
func testBeginWaits(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "s")
	tx1, err := s.Begin(c, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		tx2, err := s.Begin(c, "s", "-1")
		if err == nil {
			_ = tx2.Rollback(c)
		}
		second <- err
	}()
	// Reloading the checkpoint (what a writer does after ErrConflict) does
	// not wait for the open transaction.
	short, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	if cp, err := s.Checkpoint(short, "s", "http://example.test/v1/stream/s", "-1"); err != nil || cp.NextOffset != "-1" {
		t.Fatalf("Checkpoint during an open transaction: %+v, %v", cp, err)
	}
	select {
	case err := <-second:
		t.Fatalf("second Begin returned %v while the first transaction is open", err)
	case <-time.After(300 * time.Millisecond): // proves a wait; the outcome below does not depend on it
	}
	if _, err := tx1.Commit(c, sink.Commit{NextOffset: "1"}); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, <-second)
}

// testBeginTakesNoLock: where Begin takes no lock, two writers of a stream
// both begin and write at the same offset; the compare-and-set at Commit
// lets only the first commit.
func testBeginTakesNoLock(t *testing.T, s Sink) {
	c := ctx(t)
	checkpoint(t, s, "s")
	var txs []sink.Tx
	for i := range 2 {
		tx, err := s.Begin(c, "s", "-1")
		if err != nil {
			t.Fatalf("Begin %d while another transaction of the stream is open: %v", i, err)
		}
		t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
		if err := tx.Write(c, batch(upsert("item", fmt.Sprint("w", i), `1`))); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	if _, err := txs[1].Commit(c, sink.Commit{NextOffset: "1", Events: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := txs[0].Commit(c, sink.Commit{NextOffset: "1b", Events: 1})
	wantConflict(t, err)
	wantRows(t, s, "item", map[string]string{"w1": `1`})
	wantCheckpoint(t, s, "s", "1")
}

// testLeases pins down the lease store: acquire, refusal while held, renew,
// release, takeover after expiry, the listing, and leave.
func testLeases(t *testing.T, s Sink) {
	c := ctx(t)
	store := s.Leases()
	if store == nil {
		t.Fatal("Capabilities().Leases but Leases() is nil")
	}
	const ttl = time.Minute
	streams := func(ls []lease.Lease, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range ls {
			out = append(out, l.Stream+":"+l.Owner)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	if live, err := store.Heartbeat(c, "a", ttl); err != nil || live != 1 {
		t.Fatalf("heartbeat: %d live, %v", live, err)
	}
	if got := streams(store.Acquire(c, "a", []string{"s1", "s2"}, ttl)); got != "s1:a,s2:a" {
		t.Fatalf("a acquires: %s", got)
	}
	if got := streams(store.Acquire(c, "b", []string{"s1", "s3"}, ttl)); got != "s3:b" {
		t.Fatalf("b acquires while a holds s1: %s", got)
	}
	if got := streams(store.Renew(c, "a", []string{"s1", "s2", "s3"}, ttl)); got != "s1:a,s2:a" {
		t.Fatalf("a renews: %s", got)
	}
	if err := store.Release(c, "a", []string{"s1"}); err != nil {
		t.Fatal(err)
	}
	if got := streams(store.Acquire(c, "b", []string{"s1"}, ttl)); got != "s1:b" {
		t.Fatalf("b acquires a released lease: %s", got)
	}
	// An expired lease (a negative TTL expires at once) is taken over.
	if got := streams(store.Renew(c, "a", []string{"s2"}, -time.Second)); got != "s2:a" {
		t.Fatalf("a renews with a past expiry: %s", got)
	}
	if got := streams(store.Acquire(c, "b", []string{"s2"}, ttl)); got != "s2:b" {
		t.Fatalf("b takes over an expired lease: %s", got)
	}
	all, now, err := store.Leases(c)
	if got := streams(all, err); got != "s1:b,s2:b,s3:b" || now.IsZero() {
		t.Fatalf("leases: %s at %v", got, now)
	}
	if err := store.Leave(c, "b"); err != nil {
		t.Fatal(err)
	}
	all, _, err = store.Leases(c)
	if got := streams(all, err); got != "" {
		t.Fatalf("leases after b left: %s", got)
	}
}

// testNoLeases: a dialect without leases says so by a nil store.
func testNoLeases(t *testing.T, s Sink) {
	if s.Leases() != nil {
		t.Fatal("Capabilities().Leases is false but Leases() is not nil")
	}
}

// testPrepareTable: a sink that creates tables ahead of the commit
// (sink.TablePreparer) registers and creates the table of a new type, once
// however often it is asked, and the first commit of the type writes into
// that table.
func testPrepareTable(t *testing.T, s Sink) {
	p, ok := s.(sink.TablePreparer)
	if !ok {
		t.Skipf("%T creates tables only in the data transaction", s)
	}
	for range 2 {
		if err := p.PrepareTable(ctx(t), "early bird"); err != nil {
			t.Fatalf("PrepareTable: %v", err)
		}
	}
	types, err := s.Types(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, tt := range types {
		if tt.Type == "early bird" {
			name = tt.Table
		}
	}
	if name == "" {
		t.Fatalf("types after PrepareTable: %+v, want \"early bird\" registered", types)
	}
	if rows := fullRows(t, s, "early bird"); len(rows) != 0 {
		t.Fatalf("rows of a prepared table: %+v, want none", rows)
	}
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(upsert("early bird", "k", `"worm"`)))
	wantRows(t, s, "early bird", map[string]string{"k": `"worm"`})
	types, err = s.Types(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(types); n != 1 || types[0].Table != name {
		t.Fatalf("types after the commit: %+v, want only %q in table %s", types, "early bird", name)
	}
}
