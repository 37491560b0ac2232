// Command syncd-demo is what `make demo` runs: it starts the pinned Durable
// Streams reference server, appends a small multi-type chat stream (users,
// rooms, messages, with an update, a delete and one invalid message), runs
// `syncd run --once` into a SQLite file and prints the resulting rows with
// plain SQL.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite"

	"github.com/syncd-io/syncd/internal/dstest"
)

func main() {
	syncdBin := flag.String("syncd", "bin/syncd", "the syncd binary to run")
	dbPath := flag.String("db", "demo.db", "SQLite file to sync into (recreated)")
	flag.Parse()
	if err := run(*syncdBin, *dbPath); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(syncdBin, dbPath string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := dstest.Start(ctx, dstest.Options{})
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Printf("reference server: %s\n", srv.URL)

	if err := srv.Create(ctx, "chat"); err != nil {
		return err
	}
	if _, err := srv.Append(ctx, "chat", chatEvents()...); err != nil {
		return err
	}
	fmt.Printf("appended %d events to %s\n\n", len(chatEvents()), srv.StreamURL("chat"))

	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(dbPath + suffix)
	}
	abs, _ := filepath.Abs(dbPath)
	// The command line printed below is made of the same settings it runs
	// with, so a copy of it logs the text shown here, not JSON. The ops
	// server is off only here, where nothing would query it.
	settings := []string{
		"SYNCD_STREAMS=" + srv.StreamURL("chat"),
		"SYNCD_DATABASE_URL=sqlite:" + dbPath,
		"SYNCD_LOG_FORMAT=text",
	}
	cmd := exec.CommandContext(ctx, syncdBin, "run", "--once")
	cmd.Env = append(append(os.Environ(), settings...), "SYNCD_DATABASE_URL=sqlite:"+abs, "SYNCD_HTTP_ADDR=")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Printf("$ %s %s run --once\n", strings.Join(settings, " "), syncdBin)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("syncd run --once: %w", err)
	}
	return show(abs)
}

func chatEvents() []any {
	ev := func(typ, key, op string, value any, txid string) map[string]any {
		m := map[string]any{"type": typ, "key": key, "headers": map[string]any{"operation": op, "txid": txid, "timestamp": "2026-11-22T10:00:00Z"}}
		if value != nil {
			m["value"] = value
		}
		return m
	}
	return []any{
		ev("user", "alice", "insert", map[string]any{"name": "Alice", "status": "online"}, "tx-1"),
		ev("user", "bob", "insert", map[string]any{"name": "Bob", "status": "offline"}, "tx-1"),
		ev("room", "general", "insert", map[string]any{"title": "General"}, "tx-2"),
		ev("message", "m1", "insert", map[string]any{"room": "general", "from": "alice", "text": "hi bob"}, "tx-3"),
		ev("message", "m2", "insert", map[string]any{"room": "general", "from": "bob", "text": "hey alice"}, "tx-4"),
		ev("user", "bob", "update", map[string]any{"name": "Bob", "status": "online"}, "tx-5"),
		ev("message", "m3", "insert", map[string]any{"room": "general", "from": "bob", "text": "oops, wrong room"}, "tx-6"),
		ev("message", "m3", "delete", nil, "tx-7"),
		map[string]any{"type": "user", "headers": map[string]any{"operation": "insert"}}, // invalid: no key
	}
}

func show(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	queries := []string{
		`SELECT key, value ->> '$.name' AS name, value ->> '$.status' AS status, txid FROM "user" ORDER BY key`,
		`SELECT key, value ->> '$.from' AS sender, value ->> '$.text' AS text FROM message ORDER BY key`,
		`SELECT stream, next_offset, up_to_date, events_applied, rejects FROM syncd_checkpoints`,
		`SELECT stream, position, reason FROM syncd_rejects`,
	}
	for _, q := range queries {
		fmt.Printf("\nsqlite> %s;\n", q)
		if err := printQuery(db, q); err != nil {
			return err
		}
	}
	return nil
}

func printQuery(db *sql.DB, q string) error {
	rows, err := db.Query(q)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	fmt.Println(joinTab(cols))
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			out[i] = fmt.Sprint(v)
		}
		fmt.Println(joinTab(out))
	}
	return rows.Err()
}

func joinTab(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " | "
		}
		out += v
	}
	return out
}
