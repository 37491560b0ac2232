package sinktest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// mappingTests are the tests of Sink.Configure and the txid lookups; Run
// runs them with the rest.
var mappingTests = []struct {
	name string
	fn   func(t *testing.T, s Sink)
}{
	{"MappedColumns", testMappedColumns},
	{"MappedColumnsLargeBatch", testMappedColumnsLargeBatch},
	{"KeyScopeStream", testKeyScopeStream},
	{"ColumnEvolution", testColumnEvolution},
	{"ExplicitTable", testExplicitTable},
	{"KeyScopeChange", testKeyScopeChange},
	{"HostileMapping", testHostileMapping},
	{"TxIDLookupAndPrune", testTxIDLookupAndPrune},
}

// nulls returns a Result's conversion NULLs as table.column → count.
func nulls(r sink.Result) map[string]int {
	out := map[string]int{}
	for _, n := range r.Nulls {
		out[n.Table+"."+n.Column] += n.N
	}
	return out
}

func configure(t *testing.T, s Sink, m table.Mapping) {
	t.Helper()
	if err := s.Configure(ctx(t), m); err != nil {
		t.Fatalf("configure: %v", err)
	}
}

// norm turns a scanned column value into a comparable string: SQLite has no
// boolean or timestamp type and keeps JSON as text, so both dialects are
// compared through it. NULL is "NULL".
func norm(t testing.TB, typ table.ColumnType, v any) string {
	t.Helper()
	if v == nil {
		return "NULL"
	}
	switch typ {
	case table.Boolean:
		switch b := v.(type) {
		case bool:
			return fmt.Sprint(b)
		case int64:
			return fmt.Sprint(b != 0)
		}
	case table.Timestamptz:
		switch ts := v.(type) {
		case time.Time:
			return ts.UTC().Format(time.RFC3339Nano)
		case string:
			p, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				t.Fatalf("timestamp %q: %v", ts, err)
			}
			return p.UTC().Format(time.RFC3339Nano)
		}
	case table.JSONB:
		if s, ok := v.(string); ok {
			return canonical(t, []byte(s))
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return canonical(t, raw)
	case table.BigInt, table.Double, table.Text:
		return fmt.Sprint(v)
	}
	t.Fatalf("unexpected %T %v for a %s column", v, v, typ)
	return ""
}

// columnValues reads the columns of typ's table: key → column → normalized value.
func columnValues(t *testing.T, s Sink, typ string, cols []table.Column) map[string]map[string]string {
	t.Helper()
	names := []string{"stream", "key"}
	for _, c := range cols {
		names = append(names, c.Name)
	}
	rows, err := s.ColumnValues(ctx(t), tableOf(t, s, typ), names)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, r := range rows {
		m := map[string]string{}
		for _, c := range cols {
			m[c.Name] = norm(t, c.Type, r[c.Name])
		}
		out[fmt.Sprint(r["key"])] = m
	}
	return out
}

var profileColumns = []table.Column{
	{Name: "name", Path: "name", Type: table.Text},
	{Name: "age", Path: "profile.age", Type: table.BigInt, Index: true},
	{Name: "score", Path: "score", Type: table.Double},
	{Name: "active", Path: "active", Type: table.Boolean, Index: true},
	{Name: "seen_at", Path: "seen_at", Type: table.Timestamptz, Index: true},
	{Name: "tags", Path: "tags", Type: table.JSONB, Index: true},
	{Name: "first_tag", Path: "tags[0]", Type: table.Text},
}

// testMappedColumns: every column type against values that convert, that
// are missing (NULL, not counted) and that do not convert (NULL, counted).
func testMappedColumns(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "profile", Columns: profileColumns}}})
	checkpoint(t, s, "s")
	res := commit(t, s, "s", "-1", "1", batch(
		upsert("profile", "good", `{"name":"Ann","profile":{"age":42},"score":1.5,"active":true,"seen_at":"2024-01-02T03:04:05Z","tags":["a","b"]}`),
		upsert("profile", "missing", `{}`),
		upsert("profile", "scalar", `"just a string"`),
		upsert("profile", "nulls", `{"name":null,"profile":{"age":null},"score":null,"active":null,"seen_at":null,"tags":null}`),
		upsert("profile", "bad", `{"name":[1],"profile":{"age":"abc"},"score":"x","active":"yes","seen_at":"yesterday","tags":[]}`),
		upsert("profile", "strings", `{"name":7,"profile":{"age":"-17"},"score":"2.5e1","active":false,"seen_at":"2024-01-02T05:04:05.5+02:00","tags":[true]}`),
		upsert("profile", "edges", `{"name":true,"profile":{"age":1.5},"score":12,"seen_at":"2024-02-30T00:00:00Z","tags":{"k":"v"}}`),
		upsert("profile", "huge", `{"profile":{"age":99999999999999999999},"score":1e400,"seen_at":"2024-01-02 03:04:05"}`),
		upsert("profile", "big", `{"profile":{"age":9223372036854775807},"score":-0.25,"seen_at":"2024-12-31T23:59:59.123Z"}`),
	))
	type row = map[string]string
	null := func(cols ...string) row {
		r := row{}
		for _, c := range profileColumns {
			r[c.Name] = "NULL"
		}
		for i := 0; i+1 < len(cols); i += 2 {
			r[cols[i]] = cols[i+1]
		}
		return r
	}
	want := map[string]row{
		"good":    null("name", "Ann", "age", "42", "score", "1.5", "active", "true", "seen_at", "2024-01-02T03:04:05Z", "tags", `["a","b"]`, "first_tag", "a"),
		"missing": null(),
		"scalar":  null(),
		"nulls":   null(),
		"bad":     null("name", `[1]`, "tags", `[]`),
		"strings": null("name", "7", "age", "-17", "score", "25", "active", "false", "seen_at", "2024-01-02T03:04:05.5Z", "tags", `[true]`, "first_tag", "true"),
		"edges":   null("name", "true", "score", "12", "tags", `{"k":"v"}`),
		"huge":    null(),
		"big":     null("age", "9223372036854775807", "score", "-0.25", "seen_at", "2024-12-31T23:59:59.123Z"),
	}
	got := columnValues(t, s, "profile", profileColumns)
	for key, w := range want {
		for col, v := range w {
			if got[key][col] != v {
				t.Errorf("row %s column %s = %s, want %s", key, col, got[key][col], v)
			}
		}
	}
	// Present, non-null values that did not convert: bad (age, score,
	// active, seen_at), edges (age 1.5, seen_at 30 February), huge (age,
	// score out of range, seen_at without a zone).
	wantCounts := map[string]int{"profile.age": 3, "profile.score": 2, "profile.active": 1, "profile.seen_at": 3}
	if c := nulls(res); !maps.Equal(c, wantCounts) {
		t.Errorf("conversion NULLs = %v, want %v", c, wantCounts)
	}
	d, err := s.Describe(ctx(t), "profile")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range profileColumns {
		if !slices.Contains(d.Columns, c.Name) {
			t.Errorf("column %s missing: %v", c.Name, d.Columns)
		}
		if ix := table.IndexName("profile", c.Name); c.Index != slices.Contains(d.Indexes, ix) {
			t.Errorf("index %s on %s: want %v, indexes %v", ix, c.Name, c.Index, d.Indexes)
		}
	}
	// A transaction that writes only good values reports none.
	if c := nulls(commit(t, s, "s", "1", "2", batch(upsert("profile", "good2", `{"profile":{"age":7}}`)))); len(c) != 0 {
		t.Errorf("conversion NULLs of good values = %v", c)
	}
}

// testMappedColumnsLargeBatch: a batch large enough for the dialects' bulk
// paths (Postgres COPY) computes and counts mapped columns the same way, in
// key scope stream too.
func testMappedColumnsLargeBatch(t *testing.T, s Sink) {
	cols := []table.Column{{Name: "n", Path: "n", Type: table.BigInt, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "big", KeyScope: table.ScopeStream, Columns: cols}}})
	checkpoint(t, s, "s")
	const n = 2500
	var changes []change
	for i := range n {
		v := fmt.Sprintf(`{"n":%d}`, i)
		if i%10 == 0 {
			v = `{"n":"not a number"}`
		}
		changes = append(changes, upsert("big", fmt.Sprintf("k%05d", i), v))
	}
	res := commit(t, s, "s", "-1", "1", batch(changes...))
	got := columnValues(t, s, "big", cols)
	if len(got) != n || got["k00001"]["n"] != "1" || got["k00010"]["n"] != "NULL" || got["k02499"]["n"] != "2499" {
		t.Fatalf("%d rows; k00001=%v k00010=%v k02499=%v", len(got), got["k00001"], got["k00010"], got["k02499"])
	}
	if c := nulls(res); c["big.n"] != n/10 {
		t.Fatalf("conversion NULLs = %v, want big.n: %d", c, n/10)
	}
}

// testKeyScopeStream: equal keys from two streams are two rows; a delete
// or a reset of one stream leaves the other's.
func testKeyScopeStream(t *testing.T, s Sink) {
	cols := []table.Column{{Name: "body", Path: "body", Type: table.Text, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "message", KeyScope: table.ScopeStream, Columns: cols}}})
	checkpoint(t, s, "room-a")
	checkpoint(t, s, "room-b")
	commit(t, s, "room-a", "-1", "a1", batch(upsert("message", "m1", `{"body":"a1"}`), upsert("message", "m2", `{"body":"a2"}`)))
	commit(t, s, "room-b", "-1", "b1", batch(upsert("message", "m1", `{"body":"b1"}`), upsert("message", "m2", `{"body":"b2"}`)))
	want := func(rows ...string) {
		t.Helper()
		var got []string
		for _, r := range fullRows(t, s, "message") {
			got = append(got, r.Stream+"/"+r.Key+"="+canonical(t, r.Value))
		}
		slices.Sort(got)
		if strings.Join(got, " ") != strings.Join(rows, " ") {
			t.Fatalf("rows:\n got %v\nwant %v", got, rows)
		}
	}
	want(`room-a/m1={"body":"a1"}`, `room-a/m2={"body":"a2"}`, `room-b/m1={"body":"b1"}`, `room-b/m2={"body":"b2"}`)
	// An update and a delete touch only the stream's own row.
	commit(t, s, "room-a", "a1", "a2", batch(upsert("message", "m1", `{"body":"a1'"}`), del("message", "m2")))
	want(`room-a/m1={"body":"a1'"}`, `room-b/m1={"body":"b1"}`, `room-b/m2={"body":"b2"}`)
	// A reset of room-b rebuilds its rows only.
	b := batch()
	b.AddReset()
	b.AddChange(state.Change{Type: "message", Key: "m3", Op: state.Insert, Value: []byte(`{"body":"b3"}`)}, "b2")
	commit(t, s, "room-b", "b1", "b2", b)
	want(`room-a/m1={"body":"a1'"}`, `room-b/m3={"body":"b3"}`)
	if err := s.ResetStream(ctx(t), "room-a"); err != nil {
		t.Fatal(err)
	}
	want(`room-b/m3={"body":"b3"}`)
	if ts, _ := s.Types(ctx(t)); len(ts) != 1 || ts[0].KeyScope != "stream" {
		t.Fatalf("types = %+v, want message with key scope stream", ts)
	}
}

// testColumnEvolution: columns and indexes added to, changed in and removed
// from the mapping of a table that holds rows; the database computes them
// for the rows already there, and the checkpoint does not move.
func testColumnEvolution(t *testing.T, s Sink) {
	typ := "item"
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: typ}}})
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(upsert(typ, "a", `{"n":"1","status":"on"}`), upsert(typ, "b", `{"n":"x","status":"off"}`)))
	before := wantCheckpoint(t, s, "s", "1")

	cols := []table.Column{{Name: "n", Path: "n", Type: table.Text}, {Name: "status", Path: "status", Type: table.Text, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: typ, Columns: cols}}})
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: typ, Columns: cols}}}) // idempotent
	got := columnValues(t, s, typ, cols)
	if got["a"]["n"] != "1" || got["a"]["status"] != "on" || got["b"]["n"] != "x" || got["b"]["status"] != "off" {
		t.Fatalf("after adding columns: %v", got)
	}
	d, err := s.Describe(ctx(t), typ)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Indexes, table.IndexName(typ, "status")) {
		t.Fatalf("no index on status: %v", d.Indexes)
	}
	after := wantCheckpoint(t, s, "s", "1")
	if after.EventsApplied != before.EventsApplied || after.NextOffset != before.NextOffset {
		t.Fatalf("checkpoint moved: %+v → %+v", before, after)
	}

	// Change n to bigint (drop and add again), drop status and its index.
	cols = []table.Column{{Name: "n", Path: "n", Type: table.BigInt, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: typ, Columns: cols}}})
	got = columnValues(t, s, typ, cols)
	if got["a"]["n"] != "1" || got["b"]["n"] != "NULL" {
		t.Fatalf("after changing n to bigint: %v", got)
	}
	d, err = s.Describe(ctx(t), typ)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(d.Columns, "status") || slices.Contains(d.Indexes, table.IndexName(typ, "status")) {
		t.Fatalf("status still there: %+v", d)
	}
	if !slices.Contains(d.Indexes, table.IndexName(typ, "n")) {
		t.Fatalf("no index on n: %v", d.Indexes)
	}
	// Rows written after the change use the new type.
	res := commit(t, s, "s", "1", "2", batch(upsert(typ, "c", `{"n":3}`), upsert(typ, "d", `{"n":"three"}`)))
	got = columnValues(t, s, typ, cols)
	if got["c"]["n"] != "3" || got["d"]["n"] != "NULL" {
		t.Fatalf("new rows: %v", got)
	}
	if c := nulls(res); c[typ+".n"] != 1 {
		t.Fatalf("conversion NULLs = %v, want item.n: 1", c)
	}
	// Removing the type's columns drops them; the rows stay.
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: typ}}})
	d, err = s.Describe(ctx(t), typ)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(d.Columns, ",") != strings.Join(table.BaseColumns, ",") {
		t.Fatalf("columns after removing every mapped one: %v", d.Columns)
	}
	wantRows(t, s, typ, map[string]string{"a": `{"n":"1","status":"on"}`, "b": `{"n":"x","status":"off"}`, "c": `{"n":3}`, "d": `{"n":"three"}`})
}

// testExplicitTable: a mapped table name is registered and used; changing
// it renames the table with its rows.
func testExplicitTable(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "Chat Message", Table: "messages"}, {Type: "messages"}}})
	if got := tableOf(t, s, "Chat Message"); got != "messages" {
		t.Fatalf("table of Chat Message = %q", got)
	}
	if got := tableOf(t, s, "messages"); got == "messages" {
		t.Fatalf("type messages took the explicit table name of another type")
	}
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(upsert("Chat Message", "k", `{"a":1}`)))
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "Chat Message", Table: "chat_messages",
		Columns: []table.Column{{Name: "a", Path: "a", Type: table.BigInt, Index: true}}}}})
	if got := tableOf(t, s, "Chat Message"); got != "chat_messages" {
		t.Fatalf("table of Chat Message after rename = %q", got)
	}
	wantRows(t, s, "Chat Message", map[string]string{"k": `{"a":1}`})
	commit(t, s, "s", "1", "2", batch(upsert("Chat Message", "k2", `{"a":2}`)))
	wantRows(t, s, "Chat Message", map[string]string{"k": `{"a":1}`, "k2": `{"a":2}`})
	// A table name another type holds is refused.
	err := s.Configure(ctx(t), table.Mapping{Types: []table.TypeMapping{{Type: "other", Table: "chat_messages"}}})
	if err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("configure with a taken table name: %v", err)
	}
}

// testKeyScopeChange: a table changes key scope in place, keeping its rows
// and mapped columns; going back to global with a key in two streams fails
// and names the type.
func testKeyScopeChange(t *testing.T, s Sink) {
	cols := []table.Column{{Name: "v", Path: "v", Type: table.BigInt, Index: true}}
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "doc", Columns: cols}}})
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	commit(t, s, "a", "-1", "1", batch(upsert("doc", "k", `{"v":1}`)))
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "doc", KeyScope: table.ScopeStream, Columns: cols}}})
	commit(t, s, "b", "-1", "1", batch(upsert("doc", "k", `{"v":2}`)))
	if got := fullRows(t, s, "doc"); len(got) != 2 {
		t.Fatalf("rows after the change to key scope stream: %+v", got)
	}
	vals, err := s.ColumnValues(ctx(t), "doc", []string{"stream", "v"})
	if err != nil || len(vals) != 2 || fmt.Sprint(vals[0]["v"], vals[1]["v"]) != "1 2" {
		t.Fatalf("column v after the rebuild: %v %v", vals, err)
	}
	err = s.Configure(ctx(t), table.Mapping{Types: []table.TypeMapping{{Type: "doc", Columns: cols}}})
	if err == nil || !strings.Contains(err.Error(), `"doc"`) || !strings.Contains(err.Error(), "key_scope") {
		t.Fatalf("back to global with a key in two streams: %v", err)
	}
	if ts, _ := s.Types(ctx(t)); len(ts) != 1 || ts[0].KeyScope != "stream" {
		t.Fatalf("types after a refused change: %+v", ts)
	}
}

// testHostileMapping: names and paths that could carry SQL are refused
// before anything reaches the database.
func testHostileMapping(t *testing.T, s Sink) {
	col := func(name, path string) []table.Column {
		return []table.Column{{Name: name, Path: path, Type: table.Text}}
	}
	bad := []table.TypeMapping{
		{Type: "t", Table: `x"; DROP TABLE syncd_checkpoints; --`},
		{Type: "t", Table: `X`},
		{Type: "t", Table: "syncd_checkpoints"},
		{Type: "t", Table: "sqlite_master"},
		{Type: "t", Columns: col(`a"b`, "a")},
		{Type: "t", Columns: col("value", "a")},
		{Type: "t", Columns: col("a", `a'); DROP TABLE syncd_types; --`)},
		{Type: "t", Columns: col("a", `a') || pg_sleep(10) || ('`)},
		{Type: "t", Columns: col("a", "a..b")},
		{Type: "t", Columns: col("a", "a[-1]")},
		{Type: "t", Columns: col("a", "$.a")},
		{Type: "t", Columns: []table.Column{{Name: "a", Path: "a", Type: "text); DROP TABLE x; --"}}},
		{Type: "t", KeyScope: "tenant"},
	}
	for _, m := range bad {
		if err := s.Configure(ctx(t), table.Mapping{Types: []table.TypeMapping{m}}); err == nil {
			t.Errorf("configure accepted %+v", m)
		}
	}
	if ts, err := s.Types(ctx(t)); err != nil || len(ts) != 0 {
		t.Fatalf("types after refused mappings: %v %v", ts, err)
	}
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "1", batch(upsert("t", "k", `1`)))
	wantRows(t, s, "t", map[string]string{"k": `1`})
}

// testTxIDLookupAndPrune: txids are found by value across streams and
// pruned by commit time.
func testTxIDLookupAndPrune(t *testing.T, s Sink) {
	checkpoint(t, s, "a")
	checkpoint(t, s, "b")
	start := time.Now()
	commit(t, s, "a", "-1", "a1", batch(change{typ: "t", key: "1", value: `1`, txid: "tx-1"}, change{typ: "t", key: "2", value: `2`, txid: "tx-2"}))
	commit(t, s, "b", "-1", "b1", batch(change{typ: "t", key: "3", value: `3`, txid: "tx-1"}))
	rows, err := s.LookupTxID(ctx(t), "tx-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Stream != "b" || rows[0].NextOffset != "b1" || rows[1].Stream != "a" || rows[1].NextOffset != "a1" {
		t.Fatalf("lookup tx-1 = %+v", rows)
	}
	if rows, err := s.LookupTxID(ctx(t), "tx-none"); err != nil || len(rows) != 0 {
		t.Fatalf("lookup of an unknown txid = %+v, %v", rows, err)
	}
	if n, err := s.PruneTxIDs(ctx(t), start.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune before every commit: %d, %v", n, err)
	}
	if n, err := s.PruneTxIDs(ctx(t), time.Now().Add(time.Hour)); err != nil || n != 3 {
		t.Fatalf("prune after every commit: %d, %v", n, err)
	}
	if rows, err := s.LookupTxID(ctx(t), "tx-2"); err != nil || len(rows) != 0 {
		t.Fatalf("lookup after prune = %+v, %v", rows, err)
	}
}
