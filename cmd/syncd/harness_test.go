package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/syncd-io/syncd/internal/pgtest"
	"github.com/syncd-io/syncd/internal/sink"
)

// backend is a real database that a test syncs into.
type backend struct {
	name   string
	url    string     // SYNCD_DATABASE_URL
	schema string     // SYNCD_SCHEMA (Postgres)
	owner  *testing.T // the test the backend belongs to (closes db)
	db     *sql.DB
}

// backends returns a fresh SQLite file and a fresh Postgres schema; Postgres
// is skipped (loudly) when none is available, unless SYNCD_TEST_REQUIRE_POSTGRES=1.
func forEachBackend(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "syncd.db")
		fn(t, &backend{name: "sqlite", url: "sqlite:" + path, owner: t})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url, schema := pgtest.New(t)
		fn(t, &backend{name: "postgres", url: url, schema: schema, owner: t})
	})
}

func (b *backend) env(extra ...string) []string {
	env := []string{"SYNCD_DATABASE_URL=" + b.url, "SYNCD_LOG_FORMAT=text", "SYNCD_LOG_LEVEL=warn", "SYNCD_HTTP_ADDR="}
	if b.schema != "" {
		env = append(env, "SYNCD_SCHEMA="+b.schema)
	}
	return append(env, extra...)
}

// open connects a plain SQL client to the backend, to read what syncd wrote.
func (b *backend) open(t *testing.T) *sql.DB {
	t.Helper()
	if b.db != nil {
		return b.db
	}
	var err error
	switch b.name {
	case "sqlite":
		b.db, err = sql.Open("sqlite", strings.TrimPrefix(b.url, "sqlite:"))
	case "mysql":
		b.db = openMySQL(t, b.url)
	default:
		cfg, perr := pgx.ParseConfig(b.url)
		if perr != nil {
			t.Fatal(perr)
		}
		cfg.RuntimeParams["search_path"] = b.schema
		b.db = stdlib.OpenDB(*cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.owner.Cleanup(func() { b.db.Close() })
	return b.db
}

// row is one materialized row as the tests compare it.
type row struct {
	Value  string // canonical JSON
	Stream string
}

// tables reads every entity table registered in syncd_types: type → key → row.
func (b *backend) tables(t *testing.T) map[string]map[string]row {
	t.Helper()
	db := b.open(t)
	types := map[string]string{}
	rs, err := db.Query(`SELECT type, table_name FROM syncd_types`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var typ, table string
		if err := rs.Scan(&typ, &table); err != nil {
			t.Fatal(err)
		}
		types[typ] = table
	}
	rs.Close()
	out := map[string]map[string]row{}
	for typ, table := range types {
		q := fmt.Sprintf(`SELECT key, CAST(value AS TEXT), stream FROM %s`, quote(table))
		if b.name == "mysql" {
			q = "SELECT `key`, `value`, `stream` FROM " + quoteMySQL(table)
		}
		rs, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rs.Next() {
			var key, value, stream string
			if err := rs.Scan(&key, &value, &stream); err != nil {
				t.Fatal(err)
			}
			if out[typ] == nil {
				out[typ] = map[string]row{}
			}
			out[typ][key] = row{canonicalJSON(t, value), stream}
		}
		rs.Close()
	}
	return out
}

// checkpoint reads one stream's checkpoint row.
func (b *backend) checkpoint(t *testing.T, stream string) (offset string, eventsApplied, rejects int64, closed bool) {
	t.Helper()
	err := b.open(t).QueryRow(`SELECT next_offset, events_applied, rejects, closed FROM syncd_checkpoints WHERE stream = `+b.param(), stream).
		Scan(&offset, &eventsApplied, &rejects, &closed)
	if err != nil {
		t.Fatalf("checkpoint of %s: %v", stream, err)
	}
	return
}

// rejectRow is a row of syncd_rejects.
type rejectRow struct {
	Raw            string
	ResponseOffset string
	Position       int
	Reason         string
}

func (b *backend) rejects(t *testing.T, stream string) []rejectRow {
	t.Helper()
	rs, err := b.open(t).Query(`SELECT raw, response_offset, position, reason FROM syncd_rejects WHERE stream = `+b.param()+` ORDER BY id`, stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []rejectRow
	for rs.Next() {
		var r rejectRow
		var raw []byte
		if err := rs.Scan(&raw, &r.ResponseOffset, &r.Position, &r.Reason); err != nil {
			t.Fatal(err)
		}
		r.Raw = string(raw)
		out = append(out, r)
	}
	return out
}

// param is the backend's first query placeholder.
func (b *backend) param() string {
	if b.name == "mysql" {
		return "?"
	}
	return "$1"
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stored value %q is not JSON: %v", s, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// model is the expected materialized state, computed independently of syncd
// from the events a test appended (the State Protocol semantics, written plainly).
type model struct {
	rows    map[string]map[string]row
	changes int // valid change events
}

func newModel() *model { return &model{rows: map[string]map[string]row{}} }

func (m *model) apply(t *testing.T, stream string, events ...any) {
	t.Helper()
	for _, e := range events {
		ev, ok := e.(map[string]any)
		if !ok {
			continue // not an object: a reject
		}
		h, _ := ev["headers"].(map[string]any)
		if h == nil {
			continue
		}
		if c, ok := h["control"]; ok {
			if c == "reset" {
				for _, keys := range m.rows {
					maps.DeleteFunc(keys, func(_ string, r row) bool { return r.Stream == stream })
				}
			}
			continue
		}
		typ, _ := ev["type"].(string)
		key, _ := ev["key"].(string)
		op, _ := h["operation"].(string)
		value, hasValue := ev["value"]
		if typ == "" || key == "" || !slices.Contains([]string{"insert", "update", "upsert", "delete"}, op) || (op != "delete" && !hasValue) {
			continue // invalid: a reject
		}
		m.changes++
		if m.rows[typ] == nil {
			m.rows[typ] = map[string]row{}
		}
		if op == "delete" {
			delete(m.rows[typ], key)
			continue
		}
		// encoding/json writes Go values canonically (sorted keys, numbers
		// as written), the form canonicalJSON gives what the database holds.
		raw, err := json.Marshal(value)
		if err != nil {
			t.Fatalf("event value %v: %v", value, err)
		}
		m.rows[typ][key] = row{string(raw), stream}
	}
}

// expected returns the model's rows without empty types.
func (m *model) expected() map[string]map[string]row {
	out := map[string]map[string]row{}
	for typ, keys := range m.rows {
		if len(keys) > 0 {
			out[typ] = maps.Clone(keys)
		}
	}
	return out
}

func assertTables(t *testing.T, b *backend, m *model) {
	t.Helper()
	got := b.tables(t)
	maps.DeleteFunc(got, func(_ string, keys map[string]row) bool { return len(keys) == 0 })
	want := m.expected()
	if len(got) != len(want) {
		t.Errorf("types with rows: got %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for typ, keys := range want {
		if !maps.Equal(got[typ], keys) {
			t.Errorf("type %q: got %d rows, want %d; first differences: %s", typ, len(got[typ]), len(keys), diffRows(got[typ], keys))
		}
	}
}

func diffRows(got, want map[string]row) string {
	var b bytes.Buffer
	n := 0
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			fmt.Fprintf(&b, "[%s: got %+v want %+v] ", k, g, want[k])
			if n++; n == 5 {
				break
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok && n < 5 {
			fmt.Fprintf(&b, "[%s: unexpected %+v] ", k, got[k])
			n++
		}
	}
	return b.String()
}

// syncdRun runs the syncd command line in-process and returns its exit status
// and what it wrote to stderr.
func syncdRun(ctx context.Context, environ []string, args ...string) (int, string) {
	return syncdRunWrapped(ctx, environ, nil, args...)
}

// syncdRunWrapped is syncdRun with the real sink wrapped by wrap.
func syncdRunWrapped(ctx context.Context, environ []string, wrap func(sink.Sink) sink.Sink, args ...string) (int, string) {
	var out syncBuffer
	env := &environment{environ: environ, stdout: &out, stderr: &out, wrapSink: wrap}
	code := Main(ctx, env, args)
	return code, out.String()
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnce runs `syncd run --once` and fails the test unless it exits 0.
func runOnce(t *testing.T, environ []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code, out := syncdRun(ctx, environ, "run", "--once"); code != 0 {
		t.Fatalf("syncd run --once exited %d:\n%s", code, out)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
