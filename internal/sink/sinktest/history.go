package sinktest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// historyTests pin history tables and soft deletes (per-type options
// history and deletes: soft); Run runs them with the rest.
var historyTests = []struct {
	name string
	fn   func(t *testing.T, s Sink)
}{
	{"HistoryRows", testHistoryRows},
	{"HistoryConflictsAndRollback", testHistoryConflictsAndRollback},
	{"HistoryResets", testHistoryResets},
	{"HistoryKeyScopeStreamAndColumns", testHistoryKeyScopeStream},
	{"HistoryOnLater", testHistoryOnLater},
	{"HistoryPrune", testHistoryPrune},
	{"SoftDeletes", testSoftDeletes},
	{"SoftDeletesReset", testSoftDeletesReset},
	{"SoftDeletesKeyScopeStreamAndColumns", testSoftDeletesKeyScopeStream},
	{"SoftDeletesOnOff", testSoftDeletesOnOff},
}

// ev is a change event for hbatch.
type ev struct {
	op             state.Operation
	typ, key       string
	value, old     string // raw JSON; "" is absent
	txid, ts, offs string
}

// hbatch builds a batch whose events continue after seq base, keeping
// history for the types in keep.
func hbatch(base int64, keep []string, events ...ev) *sink.Batch {
	b := state.NewBatch()
	b.SetHistory(func(typ string) bool { return slices.Contains(keep, typ) })
	b.SetSeqBase(base)
	for _, e := range events {
		c := state.Change{Type: e.typ, Key: e.key, Op: e.op, TxID: e.txid, Timestamp: e.ts}
		if e.value != "" {
			if e.op == state.Delete {
				c.DeleteValue = []byte(e.value)
			} else {
				c.Value = []byte(e.value)
			}
		}
		if e.old != "" {
			c.OldValue = []byte(e.old)
		}
		off := e.offs
		if off == "" {
			off = "o"
		}
		b.AddChange(c, off)
	}
	return b
}

// historyColumns are the columns of a history table, in order.
var historyColumns = []string{"stream", "seq", "key", "operation", "value", "old_value", "txid", "event_time", "synced_offset", "synced_at"}

// historyOf returns the rows of typ's history table, ordered by stream and
// seq, as "stream seq key operation value old_value txid event_time
// synced_offset" with NULL for SQL NULL.
func historyOf(t testing.TB, s Sink, typ string) []string {
	t.Helper()
	rows, err := s.ColumnValues(ctx(t), table.HistoryName(tableOf(t, s, typ)), historyColumns)
	if err != nil {
		t.Fatalf("history of %s: %v", typ, err)
	}
	slices.SortFunc(rows, func(a, b map[string]any) int {
		if c := strings.Compare(fmt.Sprint(a["stream"]), fmt.Sprint(b["stream"])); c != 0 {
			return c
		}
		return int(toInt(a["seq"]) - toInt(b["seq"]))
	})
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if r["synced_at"] == nil {
			t.Fatalf("history row without synced_at: %v", r)
		}
		out = append(out, strings.Join([]string{
			fmt.Sprint(r["stream"]), fmt.Sprint(toInt(r["seq"])), fmt.Sprint(r["key"]), fmt.Sprint(r["operation"]),
			norm(t, table.JSONB, r["value"]), norm(t, table.JSONB, r["old_value"]),
			norm(t, table.Text, r["txid"]), norm(t, table.Timestamptz, r["event_time"]), fmt.Sprint(r["synced_offset"]),
		}, " "))
	}
	return out
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	}
	panic(fmt.Sprintf("seq is %T %v", v, v))
}

func wantHistory(t testing.TB, s Sink, typ string, want ...string) {
	t.Helper()
	got := historyOf(t, s, typ)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history of %s:\n got %q\nwant %q", typ, got, want)
	}
}

// testHistoryRows: every change event of a history type, never coalesced,
// numbered among all the stream's change events, across several Writes into
// one transaction and across commits; other types keep no history.
func testHistoryRows(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}, {Type: "user"}}})
	checkpoint(t, s, "s")
	keep := []string{"message"}
	c := ctx(t)
	tx, err := s.Begin(c, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	b1 := hbatch(0, keep,
		ev{op: state.Insert, typ: "message", key: "m1", value: `{"v":1}`, txid: "t1", ts: "2026-01-02T03:04:05Z", offs: "1"},
		ev{op: state.Insert, typ: "user", key: "u1", value: `{}`, offs: "1"},
		ev{op: state.Update, typ: "message", key: "m1", value: `{"v":2}`, old: `{"v":1}`, offs: "1"},
	)
	b2 := hbatch(int64(b1.Events()), keep,
		ev{op: state.Upsert, typ: "message", key: "m1", value: `{"v":null}`, offs: "2"},
		ev{op: state.Delete, typ: "message", key: "m1", offs: "2"},
		ev{op: state.Insert, typ: "message", key: "m0", value: `{"z":0}`, offs: "2"},
	)
	for _, b := range []*sink.Batch{b1, b2} {
		if err := tx.Write(c, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Commit(c, sink.Commit{NextOffset: "2", UpToDate: true, Events: 6}); err != nil {
		t.Fatal(err)
	}
	first := []string{
		`s 1 m1 insert {"v":1} NULL t1 2026-01-02T03:04:05Z 1`,
		`s 3 m1 update {"v":2} {"v":1} NULL NULL 1`,
		`s 4 m1 upsert {"v":null} NULL NULL NULL 2`,
		`s 5 m1 delete NULL NULL NULL NULL 2`,
		`s 6 m0 insert {"z":0} NULL NULL NULL 2`,
	}
	wantHistory(t, s, "message", first...)
	wantRows(t, s, "message", map[string]string{"m0": `{"z":0}`})
	if cp := wantCheckpoint(t, s, "s", "2"); cp.EventsApplied != 6 {
		t.Fatalf("events_applied = %d, want 6", cp.EventsApplied)
	}
	// The next commit numbers on from events_applied.
	commit(t, s, "s", "2", "3", hbatch(6, keep, ev{op: state.Delete, typ: "message", key: "m0", value: `{"z":0}`, offs: "3"}))
	wantHistory(t, s, "message", append(first, `s 7 m0 delete {"z":0} NULL NULL NULL 3`)...)
	if _, err := s.ColumnValues(c, table.HistoryName(tableOf(t, s, "user")), []string{"seq"}); err == nil {
		t.Fatal("a type without history: true has a history table")
	}
}

// testHistoryConflictsAndRollback: a replay from a stale offset and a
// rolled-back transaction write no history row.
func testHistoryConflictsAndRollback(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}}})
	checkpoint(t, s, "s")
	keep := []string{"message"}
	b := func() *sink.Batch {
		return hbatch(0, keep, ev{op: state.Insert, typ: "message", key: "m", value: `1`, offs: "1"})
	}
	commit(t, s, "s", "-1", "1", b())
	c := ctx(t)
	// The same events replayed from the old offset conflict at Begin or Commit.
	if tx, err := s.Begin(c, "s", "-1"); err == nil {
		if err = tx.Write(c, b()); err == nil {
			_, err = tx.Commit(c, sink.Commit{NextOffset: "1", UpToDate: true, Events: 1})
		}
		wantConflict(t, err)
		_ = tx.Rollback(c)
	} else {
		wantConflict(t, err)
	}
	tx, err := s.Begin(c, "s", "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(c, hbatch(1, keep, ev{op: state.Update, typ: "message", key: "m", value: `2`, offs: "2"})); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(c); err != nil {
		t.Fatal(err)
	}
	wantHistory(t, s, "message", `s 1 m insert 1 NULL NULL NULL 1`)
	// Re-read after the rollback, the event gets the same seq.
	commit(t, s, "s", "1", "2", hbatch(1, keep, ev{op: state.Update, typ: "message", key: "m", value: `2`, offs: "2"}))
	wantHistory(t, s, "message", `s 1 m insert 1 NULL NULL NULL 1`, `s 2 m update 2 NULL NULL NULL 2`)
}

// testHistoryResets: a reset control event leaves history alone (and its
// own transaction's rows are kept); ResetStream removes only the stream's.
func testHistoryResets(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}}})
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	keep := []string{"message"}
	commit(t, s, "a", "-1", "1", hbatch(0, keep, ev{op: state.Insert, typ: "message", key: "x", value: `1`, offs: "1"}))
	commit(t, s, "b", "-1", "1", hbatch(0, keep, ev{op: state.Insert, typ: "message", key: "y", value: `1`, offs: "1"}))
	b := hbatch(1, keep, ev{op: state.Update, typ: "message", key: "x", value: `2`, offs: "2"})
	b.AddReset()
	b.AddChange(state.Change{Type: "message", Key: "z", Op: state.Insert, Value: []byte(`3`)}, "2")
	commit(t, s, "a", "1", "2", b)
	wantRows(t, s, "message", map[string]string{"y": `1`, "z": `3`})
	wantHistory(t, s, "message",
		`a 1 x insert 1 NULL NULL NULL 1`, `a 2 x update 2 NULL NULL NULL 2`, `a 3 z insert 3 NULL NULL NULL 2`,
		`b 1 y insert 1 NULL NULL NULL 1`)
	if err := s.ResetStream(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	wantHistory(t, s, "message", `b 1 y insert 1 NULL NULL NULL 1`)
	// After syncd reset, the stream numbers from 1 again without conflict.
	checkpoint(t, s, "a")
	commit(t, s, "a", "-1", "1", hbatch(0, keep, ev{op: state.Insert, typ: "message", key: "x", value: `1`, offs: "1"}))
	wantHistory(t, s, "message", `a 1 x insert 1 NULL NULL NULL 1`, `b 1 y insert 1 NULL NULL NULL 1`)
}

// testHistoryKeyScopeStream: history of a type with key scope stream, an
// explicit table name and mapped columns, the name shortened past the limit.
func testHistoryKeyScopeStream(t *testing.T, s Sink) {
	long := strings.Repeat("t", table.MaxName)
	cols := []table.Column{{Name: "body", Path: "body", Type: table.Text, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{
		{Type: "message", Table: "msgs", KeyScope: table.ScopeStream, Columns: cols, History: true},
		{Type: "long", Table: long, History: true},
	}})
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	keep := []string{"message", "long"}
	commit(t, s, "a", "-1", "1", hbatch(0, keep,
		ev{op: state.Insert, typ: "message", key: "m", value: `{"body":"a"}`, offs: "1"},
		ev{op: state.Insert, typ: "long", key: "l", value: `1`, offs: "1"}))
	commit(t, s, "b", "-1", "1", hbatch(0, keep, ev{op: state.Insert, typ: "message", key: "m", value: `{"body":"b"}`, offs: "1"}))
	wantHistory(t, s, "message", `a 1 m insert {"body":"a"} NULL NULL NULL 1`, `b 1 m insert {"body":"b"} NULL NULL NULL 1`)
	wantHistory(t, s, "long", `a 2 l insert 1 NULL NULL NULL 1`)
	if name := table.HistoryName(long); len(name) > table.MaxName {
		t.Fatalf("history name %q is too long", name)
	}
	if got := columnValues(t, s, "message", cols); len(got) != 1 || got["m"]["body"] == "NULL" {
		t.Fatalf("mapped column next to history: %v", got)
	}
}

// testHistoryOnLater: history turned on for a type that already has rows
// records from the next commit on, numbered from events_applied.
func testHistoryOnLater(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message"}}})
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", hbatch(0, nil, ev{op: state.Insert, typ: "message", key: "m", value: `1`}, ev{op: state.Insert, typ: "message", key: "n", value: `1`}))
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}}})
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}}}) // idempotent
	wantHistory(t, s, "message")
	commit(t, s, "s", "1", "2", hbatch(2, []string{"message"}, ev{op: state.Delete, typ: "message", key: "m", offs: "2"}))
	wantHistory(t, s, "message", `s 3 m delete NULL NULL NULL NULL 2`)
	// Off: the table and its rows stay, nothing more is written.
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message"}}})
	commit(t, s, "s", "2", "3", hbatch(3, []string{"message"}, ev{op: state.Delete, typ: "message", key: "n", offs: "3"}))
	wantHistory(t, s, "message", `s 3 m delete NULL NULL NULL NULL 2`)
	// On again: the same table, numbering on.
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}}})
	commit(t, s, "s", "3", "4", hbatch(4, []string{"message"}, ev{op: state.Insert, typ: "message", key: "n", value: `2`, offs: "4"}))
	wantHistory(t, s, "message", `s 3 m delete NULL NULL NULL NULL 2`, `s 5 n insert 2 NULL NULL NULL 4`)
}

// testHistoryPrune: rows older than history_retention go, in batches of
// sink.PruneBatch; newer rows and types without retention stay.
func testHistoryPrune(t *testing.T, s Sink) {
	p, ok := sink.Sink(s).(sink.HistoryPruner)
	if !ok {
		t.Skip("the sink does not prune history")
	}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{
		{Type: "message", History: true, HistoryRetention: time.Hour},
		{Type: "forever", History: true},
	}})
	checkpoint(t, s, "s")
	var events []ev
	n := sink.PruneBatch + 5
	for i := range n {
		events = append(events, ev{op: state.Upsert, typ: "message", key: fmt.Sprint(i), value: `1`})
	}
	events = append(events, ev{op: state.Upsert, typ: "forever", key: "f", value: `1`})
	commit(t, s, "s", "-1", "1", hbatch(0, []string{"message", "forever"}, events...))
	c := ctx(t)
	if got, err := p.PruneHistory(c, time.Now()); err != nil || got != 0 {
		t.Fatalf("prune of fresh rows: %d, %v; want 0", got, err)
	}
	if got := historyOf(t, s, "message"); len(got) != n || got[0] != `s 1 0 upsert 1 NULL NULL NULL o` || got[n-1] != fmt.Sprintf(`s %d %d upsert 1 NULL NULL NULL o`, n, n-1) {
		t.Fatalf("history rows after pruning nothing: %d, first %q", len(got), got[:min(len(got), 1)])
	}
	if got, err := p.PruneHistory(c, time.Now().Add(2*time.Hour)); err != nil || got != int64(n) {
		t.Fatalf("prune past the retention: %d, %v; want %d", got, err, n)
	}
	wantHistory(t, s, "message")
	if got := len(historyOf(t, s, "forever")); got != 1 {
		t.Fatalf("history without retention was pruned: %d rows", got)
	}
}

// softRows returns the rows of typ's table as "stream/key=value deleted txid
// event_time synced_offset", deleted being "live" or "deleted".
func softRows(t testing.TB, s Sink, typ string) []string {
	t.Helper()
	rows, err := s.ColumnValues(ctx(t), tableOf(t, s, typ), []string{"stream", "key", "value", "deleted_at", "txid", "event_time", "synced_offset", "synced_at"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		state := "live"
		if r["deleted_at"] != nil {
			state = "deleted"
			if norm(t, table.Timestamptz, r["deleted_at"]) != norm(t, table.Timestamptz, r["synced_at"]) {
				t.Errorf("deleted_at %v is not the commit time %v", r["deleted_at"], r["synced_at"])
			}
		}
		out = append(out, fmt.Sprintf("%v/%v=%s %s %s %s %v", r["stream"], r["key"], norm(t, table.JSONB, r["value"]), state,
			norm(t, table.Text, r["txid"]), norm(t, table.Timestamptz, r["event_time"]), r["synced_offset"]))
	}
	slices.Sort(out)
	return out
}

func wantSoft(t testing.TB, s Sink, typ string, want ...string) {
	t.Helper()
	if got := softRows(t, s, typ); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows of %s:\n got %q\nwant %q", typ, got, want)
	}
}

// testSoftDeletes: a delete of a live row keeps it with deleted_at and the
// delete's metadata; an upsert clears it; a delete of an absent key or a
// tombstone changes nothing; a key inserted and deleted in one batch never
// appears; hard-delete types are unaffected.
func testSoftDeletes(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user", Deletes: table.DeletesSoft}, {Type: "item"}}})
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", hbatch(0, nil,
		ev{op: state.Insert, typ: "user", key: "a", value: `{"n":1}`, txid: "t1", offs: "1"},
		ev{op: state.Insert, typ: "user", key: "b", value: `{"n":2}`, offs: "1"},
		ev{op: state.Insert, typ: "item", key: "i", value: `1`, offs: "1"}))
	commit(t, s, "s", "1", "2", hbatch(3, nil,
		ev{op: state.Delete, typ: "user", key: "a", txid: "t2", ts: "2026-03-04T05:06:07Z", offs: "2"},
		ev{op: state.Delete, typ: "user", key: "ghost", offs: "2"},
		ev{op: state.Insert, typ: "user", key: "brief", value: `0`, offs: "2"},
		ev{op: state.Delete, typ: "user", key: "brief", offs: "2"},
		ev{op: state.Delete, typ: "item", key: "i", offs: "2"}))
	wantSoft(t, s, "user",
		`s/a={"n":1} deleted t2 2026-03-04T05:06:07Z 2`,
		`s/b={"n":2} live NULL NULL 1`)
	wantRows(t, s, "item", map[string]string{})
	// A second delete of the tombstone changes nothing.
	commit(t, s, "s", "2", "3", hbatch(8, nil, ev{op: state.Delete, typ: "user", key: "a", txid: "t3", offs: "3"}))
	wantSoft(t, s, "user",
		`s/a={"n":1} deleted t2 2026-03-04T05:06:07Z 2`,
		`s/b={"n":2} live NULL NULL 1`)
	// An upsert brings it back; so does an insert or update of any key.
	commit(t, s, "s", "3", "4", hbatch(9, nil, ev{op: state.Update, typ: "user", key: "a", value: `{"n":3}`, txid: "t4", offs: "4"}))
	wantSoft(t, s, "user",
		`s/a={"n":3} live t4 NULL 4`,
		`s/b={"n":2} live NULL NULL 1`)

	// Tombstones do not depend on batch boundaries: a live row updated
	// then deleted keeps the update's value, and a tombstone revived then
	// deleted keeps the revival's, in one Write or across Writes of one
	// transaction.
	commit(t, s, "s", "4", "5", hbatch(10, nil, ev{op: state.Delete, typ: "user", key: "b", offs: "5"}))
	c := ctx(t)
	tx, err := s.Begin(c, "s", "5")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*sink.Batch{
		hbatch(11, nil,
			ev{op: state.Update, typ: "user", key: "a", value: `{"n":4}`, offs: "6"},
			ev{op: state.Upsert, typ: "user", key: "b", value: `{"n":5}`, offs: "6"},
			ev{op: state.Delete, typ: "user", key: "b", txid: "t6", offs: "6"}),
		hbatch(14, nil, ev{op: state.Delete, typ: "user", key: "a", txid: "t7", offs: "6"}),
	} {
		if err := tx.Write(c, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Commit(c, sink.Commit{NextOffset: "6", UpToDate: true, Events: 4}); err != nil {
		t.Fatal(err)
	}
	wantSoft(t, s, "user",
		`s/a={"n":4} deleted t7 NULL 6`,
		`s/b={"n":5} deleted t6 NULL 6`)
}

// testSoftDeletesReset: a reset control event marks the stream's live rows
// deleted (other streams' rows stay live) and the events after it revive
// theirs; ResetStream removes the stream's rows, tombstones included.
func testSoftDeletesReset(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user", Deletes: table.DeletesSoft}}})
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	commit(t, s, "a", "-1", "1", hbatch(0, nil,
		ev{op: state.Insert, typ: "user", key: "a1", value: `1`, offs: "1"},
		ev{op: state.Insert, typ: "user", key: "a2", value: `2`, offs: "1"}))
	commit(t, s, "b", "-1", "1", hbatch(0, nil, ev{op: state.Insert, typ: "user", key: "b1", value: `1`, offs: "1"}))
	b := hbatch(2, nil)
	b.AddReset()
	b.AddChange(state.Change{Type: "user", Key: "a2", Op: state.Insert, Value: []byte(`22`)}, "2")
	commit(t, s, "a", "1", "2", b)
	wantSoft(t, s, "user",
		`a/a1=1 deleted NULL NULL 1`,
		`a/a2=22 live NULL NULL 2`,
		`b/b1=1 live NULL NULL 1`)
	if err := s.ResetStream(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	wantSoft(t, s, "user", `b/b1=1 live NULL NULL 1`)
}

// testSoftDeletesKeyScopeStream: in key scope stream a delete marks only
// the stream's row; mapped columns and their indexes keep working on
// tombstones.
func testSoftDeletesKeyScopeStream(t *testing.T, s Sink) {
	cols := []table.Column{{Name: "n", Path: "n", Type: table.BigInt, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user", KeyScope: table.ScopeStream, Columns: cols, Deletes: table.DeletesSoft}}})
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	commit(t, s, "a", "-1", "1", hbatch(0, nil, ev{op: state.Insert, typ: "user", key: "k", value: `{"n":1}`, offs: "1"}))
	commit(t, s, "b", "-1", "1", hbatch(0, nil, ev{op: state.Insert, typ: "user", key: "k", value: `{"n":2}`, offs: "1"}))
	commit(t, s, "a", "1", "2", hbatch(1, nil, ev{op: state.Delete, typ: "user", key: "k", offs: "2"}))
	wantSoft(t, s, "user", `a/k={"n":1} deleted NULL NULL 2`, `b/k={"n":2} live NULL NULL 1`)
	rows, err := s.ColumnValues(ctx(t), tableOf(t, s, "user"), []string{"stream", "n"})
	if err != nil || len(rows) != 2 || norm(t, table.BigInt, rows[0]["n"]) != "1" || norm(t, table.BigInt, rows[1]["n"]) != "2" {
		t.Fatalf("mapped column on tombstones: %v, %v", rows, err)
	}
	d, err := s.Describe(ctx(t), tableOf(t, s, "user"))
	if err != nil || !slices.Contains(d.Columns, table.DeletedAt) || !slices.Contains(d.Indexes, table.IndexName(tableOf(t, s, "user"), "n")) {
		t.Fatalf("describe: %+v, %v", d, err)
	}
	// Changing the key scope keeps the tombstones.
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user", KeyScope: table.ScopeStream, Columns: cols, Deletes: table.DeletesSoft}}})
	if err := s.ResetStream(ctx(t), "b"); err != nil {
		t.Fatal(err)
	}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user", Columns: cols, Deletes: table.DeletesSoft}}})
	wantSoft(t, s, "user", `a/k={"n":1} deleted NULL NULL 2`)
}

// testSoftDeletesOnOff: soft deletes turned on add deleted_at to a table
// with rows; turned off, the tombstones and the column go in one configure.
func testSoftDeletesOnOff(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user"}}})
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", hbatch(0, nil,
		ev{op: state.Insert, typ: "user", key: "a", value: `1`, offs: "1"},
		ev{op: state.Insert, typ: "user", key: "b", value: `2`, offs: "1"}))
	soft := table.Mapping{Types: []table.TypeMapping{{Type: "user", Deletes: table.DeletesSoft}}}
	configure(t, s, soft)
	configure(t, s, soft) // idempotent
	commit(t, s, "s", "1", "2", hbatch(2, nil, ev{op: state.Delete, typ: "user", key: "a", offs: "2"}))
	wantSoft(t, s, "user", `s/a=1 deleted NULL NULL 2`, `s/b=2 live NULL NULL 1`)
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user"}}})
	wantRows(t, s, "user", map[string]string{"b": `2`})
	d, err := s.Describe(ctx(t), tableOf(t, s, "user"))
	if err != nil || slices.Contains(d.Columns, table.DeletedAt) {
		t.Fatalf("deleted_at still there after soft deletes off: %+v, %v", d, err)
	}
	// Hard again: a delete removes the row.
	commit(t, s, "s", "2", "3", hbatch(3, nil, ev{op: state.Delete, typ: "user", key: "b", offs: "3"}))
	wantRows(t, s, "user", map[string]string{})
}
