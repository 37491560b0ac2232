package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/table"
)

// The chat schema set of the README's "Validating events": messages in
// draft 2020-12, users in draft-07.
const (
	messageSchema2020 = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "roomId": {"type": "string"},
    "author": {"type": "string"},
    "text":   {"type": "string", "maxLength": 2000},
    "sentAt": {"type": "string", "format": "date-time"}
  },
  "required": ["roomId", "author", "text", "sentAt"],
  "additionalProperties": false
}`
	userSchema07 = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "name":     {"type": "string", "minLength": 1},
    "age":      {"type": "integer", "minimum": 0},
    "lastSeen": {"type": "string", "format": "date-time"}
  },
  "required": ["name"],
  "additionalProperties": false
}`
)

// writeSchemaConfig writes the config file and the files it names into one
// folder and returns the SYNCD_CONFIG setting.
func writeSchemaConfig(t testing.TB, dir, yaml string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "syncd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return "SYNCD_CONFIG=" + path
}

func withOldValue(ev map[string]any, old any) map[string]any {
	ev["old_value"] = old
	return ev
}

// TestSchemaValidation: with a draft 2020-12 schema for message and a
// draft-07 one for user, valid values are applied and each kind of invalid
// value is dead-lettered with a reason naming the schema, the location and
// the problem; an unchecked type in the same stream keeps being applied;
// deletes and old_value are not validated.
func TestSchemaValidation(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "schema-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		cfg := writeSchemaConfig(t, t.TempDir(), "types:\n  message:\n    schema: schemas/message.json\n  user:\n    schema: schemas/user.json\n",
			map[string]string{"schemas/message.json": messageSchema2020, "schemas/user.json": userSchema07})
		msg := func(author, text, sentAt string) map[string]any {
			return map[string]any{"roomId": "general", "author": author, "text": text, "sentAt": sentAt}
		}
		valid := []any{
			change("message", "m1", "insert", msg("u1", "hello", "2025-06-01T12:00:00Z")),
			change("message", "m2", "upsert", msg("u2", "hi", "2025-06-01T12:00:01.5+02:00")),
			change("user", "u1", "insert", map[string]any{"name": "Ada", "age": 36, "lastSeen": "2025-06-01T12:00:00Z"}),
			change("user", "u2", "upsert", map[string]any{"name": "Linus"}),
			change("presence", "u1", "upsert", map[string]any{"anything": "goes", "n": 1}), // no schema
			withOldValue(change("message", "m1", "update", msg("u1", "hello, edited", "2025-06-01T12:00:00Z")), "old values are not validated"),
			change("message", "m2", "delete", nil), // deletes carry no value
		}
		invalid := []struct {
			ev   map[string]any
			want []string
		}{
			{change("message", "m3", "insert", map[string]any{"roomId": "general", "author": 7, "text": "x", "sentAt": "2025-06-01T12:00:00Z"}),
				[]string{"schema " + "schemas/message.json", "at /author:", "got number, want string"}},
			{change("message", "m4", "insert", map[string]any{"roomId": "general", "author": "u1", "sentAt": "2025-06-01T12:00:00Z"}),
				[]string{"at '':", "missing property 'text'"}},
			{change("message", "m5", "insert", msg("u1", "x", "yesterday")),
				[]string{"at /sentAt:", "'yesterday' is not valid date-time"}},
			{change("message", "m6", "insert", map[string]any{"roomId": "general", "author": "u1", "text": "x", "sentAt": "2025-06-01T12:00:00Z", "color": "red"}),
				[]string{"at '':", "additional properties 'color' not allowed"}},
			{change("user", "u3", "insert", map[string]any{"name": "Grace", "age": "old"}),
				[]string{"schemas/user.json", "at /age:", "got string, want integer"}},
			{change("user", "u4", "update", map[string]any{"age": 3}),
				[]string{"at '':", "missing property 'name'"}},
			{change("user", "u5", "insert", map[string]any{"name": "Ken", "lastSeen": "2025-13-45"}),
				[]string{"at /lastSeen:", "is not valid date-time"}},
			{change("user", "u6", "insert", map[string]any{"name": "Barbara", "email": "b@example.com"}),
				[]string{"additional properties 'email' not allowed"}},
		}
		var events []any
		for i, v := range valid {
			events = append(events, v)
			if i < len(invalid) {
				events = append(events, invalid[i].ev)
			}
		}
		for _, iv := range invalid[len(valid):] {
			events = append(events, iv.ev)
		}
		if _, err := srv.Append(ctx, name, events...); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		m.apply(t, name, valid...)
		runOnce(t, b.env("SYNCD_STREAMS="+srv.StreamURL(name), cfg))
		assertTables(t, b, m)

		rejects := b.rejects(t, name)
		if len(rejects) != len(invalid) {
			t.Fatalf("%d rejects, want %d: %+v", len(rejects), len(invalid), rejects)
		}
		for i, iv := range invalid {
			for _, w := range iv.want {
				if !strings.Contains(rejects[i].Reason, w) {
					t.Errorf("reject %d (%v): reason %q lacks %q", i, iv.ev["key"], rejects[i].Reason, w)
				}
			}
			if len(rejects[i].Reason) > 300 {
				t.Errorf("reason of %d bytes: %q", len(rejects[i].Reason), rejects[i].Reason)
			}
			if !strings.Contains(rejects[i].Raw, fmt.Sprintf("%q", iv.ev["key"])) {
				t.Errorf("reject %d raw %s is not the event", i, rejects[i].Raw)
			}
		}
		if _, applied, nrej, _ := b.checkpoint(t, name); applied != int64(len(valid)) || nrej != int64(len(invalid)) {
			t.Errorf("events_applied=%d rejects=%d, want %d and %d", applied, nrej, len(valid), len(invalid))
		}
	})
}

// TestSchemaHaltStopsOnlyThatStream: with on_invalid: halt, a value that
// fails its schema stops its own stream before the bad batch, naming the
// reason, while another stream goes on.
func TestSchemaHaltStopsOnlyThatStream(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		strict, other := "schema-halt-"+b.name, "schema-other-"+b.name
		for _, n := range []string{strict, other} {
			if err := srv.Create(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		cfg := writeSchemaConfig(t, t.TempDir(), fmt.Sprintf(`
streams:
  - url: %s
    on_invalid: halt
  - url: %s
types:
  user:
    schema: user.json
`, srv.StreamURL(strict), srv.StreamURL(other)), map[string]string{"user.json": userSchema07})
		m := newModel()
		first := []any{change("user", "a", "insert", map[string]any{"name": "A"})}
		if _, err := srv.Append(ctx, strict, first...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, strict, first...)
		env := b.env("SYNCD_STREAMS=", cfg)
		runOnce(t, env)
		before, _, _, _ := b.checkpoint(t, strict)

		bad := []any{change("user", "b", "insert", map[string]any{"name": "B"}), change("user", "c", "insert", map[string]any{"name": 3})}
		if _, err := srv.Append(ctx, strict, bad...); err != nil {
			t.Fatal(err)
		}
		good := []any{change("user", "z", "insert", map[string]any{"name": 42}), change("user", "y", "insert", map[string]any{"name": "Y"})}
		if _, err := srv.Append(ctx, other, good...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, other, good[1])
		code, out := syncdRun(ctx, env, "run", "--once")
		for _, want := range []string{"halted", strict, "message 1", "at /name:", "got number, want string"} {
			if code == 0 || !strings.Contains(out, want) {
				t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
			}
		}
		if after, _, _, _ := b.checkpoint(t, strict); after != before {
			t.Errorf("halted stream's checkpoint moved from %s to %s", before, after)
		}
		assertTables(t, b, m) // b is not applied; the other stream's y is, z is dead-lettered
		if rj := b.rejects(t, other); len(rj) != 1 || !strings.Contains(rj[0].Reason, "at /name:") {
			t.Errorf("other stream's rejects: %+v", rj)
		}
	})
}

// tableColumns lists a table's columns besides the ones every entity table
// has, with their declared type, sorted: "name type".
func tableColumns(t *testing.T, b *backend, table string) []string {
	t.Helper()
	q := `SELECT name, type FROM pragma_table_xinfo($1)`
	if b.name == "postgres" {
		q = `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`
	}
	rs, err := b.open(t).Query(q, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var name, typ string
		if err := rs.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains([]string{"key", "value", "stream", "txid", "event_time", "synced_offset", "synced_at"}, name) {
			out = append(out, name+" "+strings.ToLower(typ))
		}
	}
	slices.Sort(out)
	return out
}

// TestSchemaColumns: columns: from_schema derives typed columns from the
// schema's scalar top-level properties (hand-declared ones override them);
// when the schema gains a property and loses one, a restart adds and drops
// the columns in place and fills the new one for existing rows without
// re-reading the stream.
func TestSchemaColumns(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "schema-cols-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		yaml := `types:
  user:
    table: users
    schema: user.json
    columns:
      from_schema: true
      nick: {path: name, type: text, index: true}
      age:  {path: age, type: text}
`
		v1 := `{
  "type": "object",
  "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"}, "score": {"type": ["number", "null"]},
    "online": {"type": "boolean"}, "lastSeen": {"type": "string", "format": "date-time"},
    "profile": {"type": "object"}, "tags": {"type": "array"}, "either": {"type": ["string", "integer"]}
  }
}`
		cfg := writeSchemaConfig(t, dir, yaml, map[string]string{"user.json": v1})
		events := []any{
			change("user", "ada", "insert", map[string]any{"name": "Ada", "age": 36, "score": 9.5, "online": true, "lastSeen": "2025-06-01T12:00:00Z",
				"profile": map[string]any{"city": "London"}, "tags": []any{"math"}, "either": 1, "status": "away"}),
			change("user", "bob", "insert", map[string]any{"name": "Bob", "score": nil}),
		}
		if _, err := srv.Append(ctx, name, events...); err != nil {
			t.Fatal(err)
		}
		env := b.env("SYNCD_STREAMS="+srv.StreamURL(name), cfg)
		runOnce(t, env)

		types := map[string]map[string]string{
			"sqlite":   {"text": "text", "bigint": "integer", "double": "real", "boolean": "integer", "timestamptz": "text", "jsonb": "text"},
			"postgres": {"text": "text", "bigint": "bigint", "double": "double precision", "boolean": "boolean", "timestamptz": "timestamp with time zone", "jsonb": "jsonb"},
		}[b.name]
		want := []string{"age " + types["text"], "last_seen " + types["timestamptz"], "name " + types["text"], "nick " + types["text"],
			"online " + types["boolean"], "profile " + types["jsonb"], "score " + types["double"], "tags " + types["jsonb"]}
		slices.Sort(want)
		if got := tableColumns(t, b, "users"); !slices.Equal(got, want) {
			t.Errorf("columns from schema v1:\n got %v\nwant %v", got, want)
		}
		db := b.open(t)
		got := queryStrings(t, db, `SELECT key, name, nick, age, score, last_seen IS NOT NULL, CAST(profile AS TEXT) LIKE '%London%' FROM users ORDER BY key`)
		tr, fa := map[string]string{"sqlite": "1", "postgres": "true"}[b.name], map[string]string{"sqlite": "0", "postgres": "false"}[b.name]
		if w := []string{"ada|Ada|Ada|36|9.5|" + tr + "|" + tr, "bob|Bob|Bob|NULL|NULL|" + fa + "|NULL"}; !slices.Equal(got, w) {
			t.Errorf("rows:\n got %v\nwant %v", got, w)
		}
		if !b.hasIndex(t, table.IndexName("users", "nick")) {
			t.Error("no index on the hand-declared column nick")
		}
		offset, applied, _, _ := b.checkpoint(t, name)

		// v2 gains status and loses online.
		v2 := strings.Replace(v1, `"online": {"type": "boolean"}`, `"status": {"type": "string"}`, 1)
		writeSchemaConfig(t, dir, yaml, map[string]string{"user.json": v2})
		runOnce(t, env)
		want = slices.DeleteFunc(want, func(c string) bool { return strings.HasPrefix(c, "online ") })
		want = append(want, "status "+types["text"])
		slices.Sort(want)
		if got := tableColumns(t, b, "users"); !slices.Equal(got, want) {
			t.Errorf("columns from schema v2:\n got %v\nwant %v", got, want)
		}
		if got := queryStrings(t, db, `SELECT key, status FROM users ORDER BY key`); !slices.Equal(got, []string{"ada|away", "bob|NULL"}) {
			t.Errorf("new column for existing rows: %v", got)
		}
		if o, a, _, _ := b.checkpoint(t, name); o != offset || a != applied {
			t.Errorf("evolution re-read the stream: checkpoint %s/%d, was %s/%d", o, a, offset, applied)
		}
	})
}

// TestSchemaStartupErrors: a missing schema file, one that is not JSON and
// one that does not compile each stop startup with exit status 2 and a
// message naming the config file, the type and the schema file.
func TestSchemaStartupErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing", nil, "no such file"},
		{"not JSON", map[string]string{"schemas/user.json": `{"type": "object",`}, "not JSON"},
		{"does not compile", map[string]string{"schemas/user.json": `{"type": "object", "properties": {"age": {"type": "int"}}}`}, "does not compile"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := writeSchemaConfig(t, dir, "types:\n  user:\n    schema: schemas/user.json\n", c.files)
			env := []string{"SYNCD_DATABASE_URL=sqlite:" + filepath.Join(dir, "db"), "SYNCD_HTTP_ADDR=", "SYNCD_STREAMS=http://127.0.0.1:1/v1/stream/x", cfg}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code, out := syncdRun(ctx, env, "run", "--once")
			for _, w := range []string{filepath.Join(dir, "syncd.yaml"), "types.user", filepath.Join(dir, "schemas", "user.json"), c.want} {
				if code != exitUsage || !strings.Contains(out, w) {
					t.Errorf("exit %d, output lacks %q:\n%s", code, w, out)
				}
			}
		})
	}
}
