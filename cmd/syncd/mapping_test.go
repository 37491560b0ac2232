package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/syncer"
	"github.com/syncd-io/syncd/internal/table"
)

// writeConfig writes a SYNCD_CONFIG file and returns the variable setting it.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "syncd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return "SYNCD_CONFIG=" + path
}

// withTxID sets headers.txid on a change event.
func withTxID(ev map[string]any, txid string) map[string]any {
	ev["headers"].(map[string]any)["txid"] = txid
	return ev
}

// queryStrings runs q and returns each row's columns as text ("NULL" for
// NULL), joined by '|'.
func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rs, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = "NULL"
			if v.Valid {
				parts[i] = v.String
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return out
}

// hasIndex reports whether the backend has an index of that name.
func (b *backend) hasIndex(t *testing.T, name string) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = $1`
	if b.name == "postgres" {
		q = `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`
	}
	var n int
	if err := b.open(t).QueryRow(q, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestMappingFile: streams and types from the file alone (SYNCD_STREAMS
// empty); typed columns match the JSON values, a non-convertible value is
// NULL and counted in the metric; key scope stream keeps two streams' equal
// keys apart; /v1/txid answers 200 for a committed txid (also one committed
// while the request waits) and 408 for an unknown one.
func TestMappingFile(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		room1, room2 := "map-room1-"+b.name, "map-room2-"+b.name
		for _, n := range []string{room1, room2} {
			if err := srv.Create(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		cfg := writeConfig(t, fmt.Sprintf(`
streams:
  - url: %s
  - name: %s
    url: %s
types:
  user:
    table: users
    columns:
      name:     {path: name, type: text}
      age:      {path: profile.age, type: bigint, index: true}
      score:    {path: score, type: double}
      online:   {path: online, type: boolean}
      seen:     {path: last_seen, type: timestamptz, index: true}
      tags:     {path: tags, type: jsonb}
      first:    {path: "tags[0]", type: text}
  message:
    key_scope: stream
    columns:
      body: {path: body, type: text, index: true}
`, srv.StreamURL(room1), room2, srv.StreamURL(room2)))
		if _, err := srv.Append(ctx, room1,
			withTxID(change("user", "ann", "insert", map[string]any{"name": "Ann", "profile": map[string]any{"age": 41},
				"score": 2.5, "online": true, "last_seen": "2024-05-06T07:08:09Z", "tags": []any{"a", "b"}}), "tx-1"),
			change("user", "bob", "insert", map[string]any{"name": "Bob", "profile": map[string]any{"age": "abc"}}),
			change("user", "cid", "insert", map[string]any{}),
			change("message", "m1", "insert", map[string]any{"body": "hello from 1"}),
		); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Append(ctx, room2, change("message", "m1", "insert", map[string]any{"body": "hello from 2"})); err != nil {
			t.Fatal(err)
		}
		l := startWithOps(t, b.env(cfg, "SYNCD_STREAMS="))
		eventually(t, 20*time.Second, "/readyz 200", func() bool { code, _ := l.get(t, "/readyz"); return code == 200 })

		db := b.open(t)
		cast := "CAST(seen AS TEXT)"
		if b.name == "postgres" {
			cast = `to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`
		}
		got := queryStrings(t, db, `SELECT key, name, age, score, CAST(online AS TEXT), `+cast+`, first FROM users ORDER BY key`)
		onlineTrue := map[string]string{"sqlite": "1", "postgres": "true"}[b.name]
		seenText := map[string]string{"sqlite": "2024-05-06T07:08:09.000Z", "postgres": "2024-05-06T07:08:09Z"}[b.name]
		want := []string{
			"ann|Ann|41|2.5|" + onlineTrue + "|" + seenText + "|a",
			"bob|Bob|NULL|NULL|NULL|NULL|NULL",
			"cid|NULL|NULL|NULL|NULL|NULL|NULL",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("users:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if got := queryStrings(t, db, `SELECT key FROM users WHERE age > 40 AND tags IS NOT NULL`); strings.Join(got, ",") != "ann" {
			t.Errorf("typed query: %v", got)
		}
		for _, col := range []string{"age", "seen"} {
			if !b.hasIndex(t, table.IndexName("users", col)) {
				t.Errorf("no index on users.%s", col)
			}
		}
		got = queryStrings(t, db, `SELECT stream, key, body FROM message ORDER BY stream, key`)
		if strings.Join(got, ",") != room1+"|m1|hello from 1,"+room2+"|m1|hello from 2" {
			t.Errorf("messages with key scope stream: %v", got)
		}

		_, body := l.get(t, "/metrics")
		if v := metric(body, "syncd_column_conversion_nulls_total", `table="users"`, `column="age"`); v != 1 {
			t.Errorf("syncd_column_conversion_nulls_total{users,age} = %v, want 1", v)
		}

		code, txBody := l.get(t, "/v1/txid/tx-1?timeout=5s")
		var tx struct{ TxID, Stream, Offset string }
		if err := json.Unmarshal([]byte(txBody), &tx); code != 200 || err != nil || tx.Stream != room1 || tx.Offset == "" || tx.TxID != "tx-1" {
			t.Errorf("/v1/txid/tx-1 = %d %s", code, txBody)
		}
		if code, body := l.get(t, "/v1/txid/tx-unknown?timeout=200ms"); code != 408 {
			t.Errorf("/v1/txid/tx-unknown = %d %s, want 408", code, body)
		}
		if code, _ := l.get(t, "/v1/txid/tx-1?timeout=banana"); code != 400 {
			t.Errorf("bad timeout = %d, want 400", code)
		}
		// A request for a txid not committed yet is answered once the commit
		// that applies it lands, whether the request or the append comes
		// first (that the hub wakes a waiting request is TestTxIDWait's).
		waited := make(chan int, 1)
		go func() {
			code, _ := l.get(t, "/v1/txid/tx-live?timeout=20s&stream="+room2)
			waited <- code
		}()
		if _, err := srv.Append(ctx, room2, withTxID(change("message", "m2", "insert", map[string]any{"body": "live"}), "tx-live")); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-waited:
			if code != 200 {
				t.Errorf("/v1/txid/tx-live = %d, want 200", code)
			}
		case <-time.After(25 * time.Second):
			t.Fatal("/v1/txid/tx-live did not answer")
		}
		if got := queryStrings(t, db, `SELECT body FROM message WHERE key = 'm2'`); strings.Join(got, ",") != "live" {
			t.Errorf("after the txid wait the row is not readable: %v", got)
		}

		// A reset of room1 leaves room2's equal keys.
		l.stop(t)
		if code, out := syncdRun(ctx, b.env(cfg, "SYNCD_STREAMS="), "reset", room1); code != 0 {
			t.Fatalf("reset: %d %s", code, out)
		}
		got = queryStrings(t, db, `SELECT stream, key FROM message ORDER BY stream, key`)
		if strings.Join(got, ",") != room2+"|m1,"+room2+"|m2" {
			t.Errorf("after the reset of %s: %v", room1, got)
		}
	})
}

// TestMappingEvolution: columns added to the mapping of a table that holds
// rows are filled on restart without re-reading the stream (the checkpoint
// does not move); a type change and a removal apply in place too.
func TestMappingEvolution(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "evolve-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Append(ctx, name,
			change("flag", "dark-mode", "insert", map[string]any{"enabled": true, "rollout": "25", "owner": "ui"}),
			change("flag", "beta", "insert", map[string]any{"enabled": false, "rollout": "x"}),
		); err != nil {
			t.Fatal(err)
		}
		streams := "SYNCD_STREAMS=" + srv.StreamURL(name)
		runOnce(t, b.env(streams, writeConfig(t, "types:\n  flag: {}\n")))
		offset, applied, _, _ := b.checkpoint(t, name)

		// Two columns and an index: the database computes them for the rows there.
		cfg := writeConfig(t, `
types:
  flag:
    columns:
      enabled: {path: enabled, type: boolean, index: true}
      rollout: {path: rollout, type: text}
`)
		runOnce(t, b.env(streams, cfg))
		db := b.open(t)
		if got := queryStrings(t, db, `SELECT key, CAST(enabled AS TEXT), rollout FROM flag ORDER BY key`); b.name == "postgres" &&
			strings.Join(got, ",") != "beta|false|x,dark-mode|true|25" || b.name == "sqlite" && strings.Join(got, ",") != "beta|0|x,dark-mode|1|25" {
			t.Errorf("after adding columns: %v", got)
		}
		if !b.hasIndex(t, table.IndexName("flag", "enabled")) {
			t.Error("no index on enabled")
		}
		if off, app, _, _ := b.checkpoint(t, name); off != offset || app != applied {
			t.Errorf("checkpoint moved: %s/%d → %s/%d", offset, applied, off, app)
		}

		// rollout becomes a bigint; enabled and its index go.
		runOnce(t, b.env(streams, writeConfig(t, `
types:
  flag:
    columns:
      rollout: {path: rollout, type: bigint}
`)))
		if got := queryStrings(t, db, `SELECT key, rollout FROM flag ORDER BY key`); strings.Join(got, ",") != "beta|NULL,dark-mode|25" {
			t.Errorf("after changing rollout to bigint: %v", got)
		}
		if _, err := db.Exec(`SELECT enabled FROM flag`); err == nil {
			t.Error("column enabled still exists")
		}
		if b.hasIndex(t, table.IndexName("flag", "enabled")) {
			t.Error("index on enabled still exists")
		}
		if off, app, _, _ := b.checkpoint(t, name); off != offset || app != applied {
			t.Errorf("checkpoint moved: %s/%d → %s/%d", offset, applied, off, app)
		}
	})
}

// TestMappingHostile: names and paths carrying SQL stop startup with a
// message naming the file, the type and the field; nothing is executed.
func TestMappingHostile(t *testing.T) {
	t.Parallel()
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		if code, out := syncdRun(ctx, b.env(writeConfig(t, "types:\n  ok: {}\n")), "migrate"); code != 0 {
			t.Fatalf("migrate with a config file: %d %s", code, out)
		}
		tests := []struct{ yaml, field string }{
			{"types:\n  evil:\n    table: 'x\"; DROP TABLE syncd_checkpoints; --'\n", "table"},
			{"types:\n  evil:\n    columns:\n      c: {path: \"a') || pg_sleep(5) || ('\", type: text}\n", "path"},
			{"types:\n  evil:\n    columns:\n      'c\"; DROP TABLE syncd_types; --': {path: a, type: text}\n", "column"},
			{"types:\n  evil:\n    columns:\n      c: {path: a, type: 'text); DROP TABLE syncd_types; --'}\n", "type"},
		}
		for _, tt := range tests {
			cfg := writeConfig(t, tt.yaml)
			code, out := syncdRun(ctx, b.env("SYNCD_STREAMS=http://127.0.0.1:1/v1/stream/x", cfg), "run", "--once")
			if code != exitUsage || !strings.Contains(out, "syncd.yaml") || !strings.Contains(out, "types.evil") || !strings.Contains(out, tt.field) {
				t.Errorf("%q: exit %d: %s", tt.yaml, code, out)
			}
		}
		var n int
		if err := b.open(t).QueryRow(`SELECT count(*) FROM syncd_types`).Scan(&n); err != nil || n != 1 {
			t.Errorf("syncd_types after refused configs: %d %v", n, err)
		}
	})
}

// TestTxIDPruning: syncd_txids keeps a txid for SYNCD_TXID_RETENTION.
func TestTxIDPruning(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "prune-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Append(ctx, name, withTxID(change("t", "k", "insert", 1), "tx-old")); err != nil {
			t.Fatal(err)
		}
		streams := "SYNCD_STREAMS=" + srv.StreamURL(name)
		runOnce(t, b.env(streams))
		count := func() int {
			var n int
			if err := b.open(t).QueryRow(`SELECT count(*) FROM syncd_txids`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count() != 1 {
			t.Fatal("txid not recorded")
		}
		runOnce(t, b.env(streams)) // the default retention keeps it
		if count() != 1 {
			t.Fatal("txid pruned before its retention")
		}
		l := startWithOps(t, b.env(streams, "SYNCD_TXID_RETENTION=1s"))
		eventually(t, 20*time.Second, "the txid to be pruned", func() bool { return count() == 0 })
		if code, _ := l.get(t, "/v1/txid/tx-old?timeout=0s"); code != 408 {
			t.Errorf("/v1/txid of a pruned txid = %d, want 408", code)
		}
	})
}

// TestConfigPrecedence: the environment wins over the file where both set
// the same thing; streams merge by name.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, `
streams:
  - name: chat
    url: http://file/v1/stream/chat
    on_invalid: halt
    types: [message]
  - url: http://file/v1/stream/presence
`)
	load := func(env ...string) ([]StreamSpec, error) {
		c, _, err := loadConfig(append(env, cfg), flag.NewFlagSet("t", flag.ContinueOnError), nil, true)
		if err != nil {
			return nil, err
		}
		return c.StreamList()
	}
	got, err := load("SYNCD_STREAMS=chat=http://env/v1/stream/chat,http://env/v1/stream/other")
	if err != nil {
		t.Fatal(err)
	}
	want := []StreamSpec{
		{Name: "chat", URL: "http://env/v1/stream/chat", Types: []string{"message"}, OnInvalid: syncer.Halt},
		{Name: "other", URL: "http://env/v1/stream/other"},
		{Name: "presence", URL: "http://file/v1/stream/presence"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged streams:\n got %+v\nwant %+v", got, want)
	}
	got, err = load("SYNCD_ON_INVALID=dead-letter", "SYNCD_TYPES=a,b")
	if err != nil || len(got) != 2 || got[0].OnInvalid != "" || got[0].Types != nil {
		t.Errorf("set variables do not win over the file: %+v, %v", got, err)
	}
	// No streams anywhere is still an error; a bad file names itself.
	if _, _, err := loadConfig(nil, flag.NewFlagSet("t", flag.ContinueOnError), nil, true); err == nil || !strings.Contains(err.Error(), "SYNCD_STREAMS is required") {
		t.Errorf("no streams: %v", err)
	}
	bad := writeConfig(t, "streams:\n  - url: ftp://x/y\n")
	if _, _, err := loadConfig([]string{bad}, flag.NewFlagSet("t", flag.ContinueOnError), nil, true); err == nil ||
		!strings.Contains(err.Error(), "syncd.yaml: streams[0] (line 2)") {
		t.Errorf("bad stream in the file: %v", err)
	}
	dup := writeConfig(t, "streams:\n  - url: http://a/v1/stream/x\n  - url: http://b/v1/stream/x\n")
	if _, _, err := loadConfig([]string{dup}, flag.NewFlagSet("t", flag.ContinueOnError), nil, true); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("duplicate stream names in the file: %v", err)
	}
	// Commands that need no streams still refuse a broken file.
	broken := writeConfig(t, "types:\n  a:\n    key_scope: everywhere\n")
	if _, _, err := loadConfig([]string{broken}, flag.NewFlagSet("t", flag.ContinueOnError), nil, false); err == nil || !strings.Contains(err.Error(), "key_scope") {
		t.Errorf("broken file for a command without streams: %v", err)
	}
}
