package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// historyConfig keeps history for message and user, and soft deletes for
// user (with a typed, indexed column); room keeps neither.
const historyConfig = `
types:
  message:
    history: true
  user:
    history: true
    deletes: soft
    columns:
      i: {path: i, type: bigint, index: true}
`

// softRow is a row of a table with soft deletes as the model expects it.
type softRow struct {
	Value   string // canonical JSON
	Deleted bool
}

// pendingOp is the coalesced change of one key within one transaction.
type pendingOp struct {
	del       bool
	value     string // canonical JSON of an insert, update or upsert
	lastValue string // for a delete: the value written earlier in the transaction, "" if none
}

// historyModel is what the history tables and the soft-delete table should
// hold, computed from the appended events and the documented contract:
// history is one row per change event of a history type, numbered among all
// change events; soft deletes apply per transaction (one per `run --once`
// here), a delete of a held row keeps it with its last value, and a reset
// marks the stream's live rows deleted.
type historyModel struct {
	stream  string
	history map[string]bool // the types that keep history
	soft    string          // the type with soft deletes
	seq     int
	rows    map[string][]string // type → "seq|key|operation|value|old_value"
	state   map[string]softRow  // the soft type's committed rows
	pending map[string]pendingOp
	reset   bool
}

func newHistoryModel(stream string) *historyModel {
	return &historyModel{
		stream: stream, history: map[string]bool{"message": true, "user": true}, soft: "user",
		rows: map[string][]string{}, state: map[string]softRow{}, pending: map[string]pendingOp{},
	}
}

// add applies events read within the current transaction.
func (m *historyModel) add(t *testing.T, events ...any) {
	t.Helper()
	for _, e := range events {
		ev, ok := e.(map[string]any)
		if !ok {
			continue
		}
		h, _ := ev["headers"].(map[string]any)
		if h == nil {
			continue
		}
		if c, ok := h["control"]; ok {
			if c == "reset" {
				m.reset = true
				clear(m.pending)
			}
			continue
		}
		typ, _ := ev["type"].(string)
		key, _ := ev["key"].(string)
		op, _ := h["operation"].(string)
		_, hasValue := ev["value"]
		if typ == "" || key == "" || !slices.Contains([]string{"insert", "update", "upsert", "delete"}, op) || (op != "delete" && !hasValue) {
			continue
		}
		m.seq++
		if m.history[typ] {
			m.rows[typ] = append(m.rows[typ], fmt.Sprintf("%d|%s|%s|%s|%s", m.seq, key, op, jsonOrNull(t, ev, "value"), jsonOrNull(t, ev, "old_value")))
		}
		if typ != m.soft {
			continue
		}
		p, had := m.pending[key]
		switch {
		case op != "delete":
			m.pending[key] = pendingOp{value: jsonOrNull(t, ev, "value")}
		case had && !p.del:
			m.pending[key] = pendingOp{del: true, lastValue: p.value}
		case had:
			m.pending[key] = pendingOp{del: true, lastValue: p.lastValue}
		default:
			m.pending[key] = pendingOp{del: true}
		}
	}
}

// commit applies the transaction's coalesced changes to the soft type's rows.
func (m *historyModel) commit() {
	if m.reset {
		for k, r := range m.state {
			r.Deleted = true
			m.state[k] = r
		}
	}
	for key, p := range m.pending {
		r, held := m.state[key]
		switch {
		case !p.del:
			m.state[key] = softRow{Value: p.value}
		case held && (!r.Deleted || p.lastValue != ""):
			if p.lastValue != "" {
				r.Value = p.lastValue
			}
			r.Deleted = true
			m.state[key] = r
		}
	}
	clear(m.pending)
	m.reset = false
}

// jsonOrNull is the canonical JSON of an event's field, or NULL.
func jsonOrNull(t *testing.T, ev map[string]any, field string) string {
	v, ok := ev[field]
	if !ok {
		return "NULL"
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// historyTable reads a history table as the model writes it, ordered by seq,
// checking its stream, synced_offset and synced_at on the way.
func historyTable(t *testing.T, db *sql.DB, table, stream string) []string {
	t.Helper()
	rs, err := db.Query(`SELECT seq, key, operation, CAST(value AS TEXT), CAST(old_value AS TEXT), stream, synced_offset, synced_at IS NOT NULL FROM ` + quote(table) + ` ORDER BY seq`)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var seq int64
		var key, op, st, offset string
		var value, old sql.NullString
		var synced bool
		if err := rs.Scan(&seq, &key, &op, &value, &old, &st, &offset, &synced); err != nil {
			t.Fatal(err)
		}
		if st != stream || offset == "" || !synced {
			t.Fatalf("%s row %d: stream %q, synced_offset %q, synced_at set %v", table, seq, st, offset, synced)
		}
		out = append(out, fmt.Sprintf("%d|%s|%s|%s|%s", seq, key, op, canonicalOrNull(t, value), canonicalOrNull(t, old)))
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func canonicalOrNull(t *testing.T, s sql.NullString) string {
	if !s.Valid {
		return "NULL"
	}
	return canonicalJSON(t, s.String)
}

// softTable reads the soft type's table: key → row, checking that every
// tombstone's deleted_at is its synced_at.
func softTable(t *testing.T, db *sql.DB, table string) map[string]softRow {
	t.Helper()
	rs, err := db.Query(`SELECT key, CAST(value AS TEXT), deleted_at IS NOT NULL, deleted_at IS NULL OR deleted_at = synced_at FROM ` + quote(table))
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rs.Close()
	out := map[string]softRow{}
	for rs.Next() {
		var key, value string
		var deleted, atCommit bool
		if err := rs.Scan(&key, &value, &deleted, &atCommit); err != nil {
			t.Fatal(err)
		}
		if !atCommit {
			t.Errorf("%s row %s: deleted_at is not the commit time", table, key)
		}
		out[key] = softRow{Value: canonicalJSON(t, value), Deleted: deleted}
	}
	return out
}

// assertHistory checks every table against the models: history tables equal
// the stream's change events of their type, the soft table holds live rows
// and tombstones as the contract says, the rest equals the materialized state.
func assertHistory(t *testing.T, b *backend, hm *historyModel, m *model) {
	t.Helper()
	db := b.open(t)
	for _, typ := range []string{"message", "user"} {
		got, want := historyTable(t, db, typ+"_history", hm.stream), hm.rows[typ]
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s_history: %d rows, want %d; got %q…, want %q…", typ, len(got), len(want), head(got), head(want))
		}
	}
	if got := softTable(t, db, "user"); !maps.Equal(got, hm.state) {
		t.Fatalf("user (soft deletes): %d rows, want %d", len(got), len(hm.state))
	}
	live := queryStrings(t, db, `SELECT count(*) FROM "user" WHERE deleted_at IS NULL`)
	nLive := 0
	for _, r := range hm.state {
		if !r.Deleted {
			nLive++
		}
	}
	if live[0] != fmt.Sprint(nLive) || len(m.rows["user"]) != nLive {
		t.Fatalf("live user rows: %s in the table, %d in the soft model, %d in the materialized state", live[0], nLive, len(m.rows["user"]))
	}
	got := b.tables(t)
	for _, typ := range []string{"message", "room"} {
		if !maps.Equal(got[typ], m.rows[typ]) && len(got[typ])+len(m.rows[typ]) > 0 {
			t.Fatalf("type %s: %s", typ, diffRows(got[typ], m.rows[typ]))
		}
	}
	if _, events, _, _ := b.checkpoint(t, hm.stream); events != int64(hm.seq) {
		t.Fatalf("events_applied = %d, want %d", events, hm.seq)
	}
}

func head(s []string) []string { return s[:min(len(s), 3)] }

// TestHistoryAndSoftDeletes syncs a multi-type stream with history on two
// types and soft deletes on one, appends more (deletes of held rows, a
// reset), syncs again and runs a third time with nothing new.
func TestHistoryAndSoftDeletes(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	forEachBackend(t, func(t *testing.T, b *backend) {
		name := "history-" + b.name
		if err := srv.Create(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		env := b.env("SYNCD_STREAMS="+srv.StreamURL(name), writeConfig(t, historyConfig))
		m, hm := newModel(), newHistoryModel(name)
		add := func(events []any) {
			appendAll(t, srv, name, events)
			m.apply(t, name, events...)
			hm.add(t, events...)
		}

		first := workload(31, 1500, 150)
		first = append(first,
			withOldValue(change("user", "k00001", "update", map[string]any{"i": -1}), map[string]any{"i": -2}),
			map[string]any{"type": "user", "headers": map[string]any{"operation": "insert"}, "value": 1}, // no key: a reject
			control("snapshot-start"),
			withTxID(change("message", "k00002", "upsert", map[string]any{"i": -3}), "tx-a"),
		)
		add(first)
		runOnce(t, env)
		hm.commit()
		assertHistory(t, b, hm, m)

		// More changes: deletes of rows the tables hold, a revival, a reset.
		var second []any
		for _, k := range slices.Sorted(maps.Keys(hm.state))[:20] {
			second = append(second, change("user", k, "delete", nil), change("message", k, "delete", nil))
		}
		second = append(second, workload(32, 500, 150)...)
		second = append(second, control("reset"))
		second = append(second, workload(33, 300, 150)...)
		add(second)
		runOnce(t, env)
		hm.commit()
		assertHistory(t, b, hm, m)
		if tombstones := queryStrings(t, b.open(t), `SELECT count(*) FROM "user" WHERE deleted_at IS NOT NULL`); tombstones[0] == "0" {
			t.Fatal("no tombstones after deletes of held rows and a reset")
		}

		// A third run with nothing new changes nothing.
		runOnce(t, env)
		assertHistory(t, b, hm, m)
	})
}

// TestHistoryBadConfig: a bad history or deletes value stops startup with a
// message naming the file, the type, the field and its line.
func TestHistoryBadConfig(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "types:\n  user:\n    deletes: archive\n")
	path := strings.TrimPrefix(cfg, "SYNCD_CONFIG=")
	env := []string{"SYNCD_STREAMS=http://127.0.0.1:1/v1/stream/x", "SYNCD_DATABASE_URL=sqlite:" + t.TempDir() + "/syncd.db", "SYNCD_HTTP_ADDR=", cfg}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, out := syncdRun(ctx, env, "run", "--once")
	if code == 0 {
		t.Fatalf("syncd started with deletes: archive:\n%s", out)
	}
	for _, want := range []string{path, "types.user (line 2)", `deletes (line 3): "archive" is not hard or soft`} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not name %q:\n%s", want, out)
		}
	}
}

// TestCrashSafetyHistory is the kill -9 crash test with history on every
// type, on every backend including MySQL/MariaDB (crashSafety): after every kill the history tables hold each seq from 1 to the
// checkpoint's events_applied exactly once, none missing, none twice.
func TestCrashSafetyHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a real process repeatedly during a catch-up")
	}
	cfg := writeConfig(t, "types:\n  user: {history: true}\n  room: {history: true}\n  message: {history: true}\n")
	crashSafety(t, crashOptions{prefix: "crash-history-", first: 40_000, second: 20_000, env: []string{cfg}, check: assertSeqs})
}

// assertSeqs checks that the history tables of user, room and message (the
// workload's types) together hold seq 1..events_applied once each.
func assertSeqs(t *testing.T, b *backend, stream string) {
	t.Helper()
	_, applied, _, _ := b.checkpoint(t, stream)
	var n, distinct, maxSeq int64
	p, args := "$1", []any{stream}
	if b.name == "mysql" { // a ? placeholder binds one argument each
		p, args = "?", []any{stream, stream, stream}
	}
	err := b.open(t).QueryRow(`SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM (
		SELECT seq FROM user_history WHERE stream = `+p+` UNION ALL
		SELECT seq FROM room_history WHERE stream = `+p+` UNION ALL
		SELECT seq FROM message_history WHERE stream = `+p+`) AS h`, args...).Scan(&n, &distinct, &maxSeq)
	if err != nil {
		t.Fatalf("read history seqs: %v", err)
	}
	if n != applied || distinct != applied || maxSeq != applied {
		t.Fatalf("history of %s: %d rows, %d distinct seqs, max seq %d; want %d of each (events_applied)", stream, n, distinct, maxSeq, applied)
	}
}
