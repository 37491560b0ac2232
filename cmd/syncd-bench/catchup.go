package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// buildSyncd compiles the real syncd binary, as `make build` does, into dir.
func buildSyncd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "syncd")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/syncd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/syncd (run from the repository root): %w", err)
	}
	return bin, nil
}

// target is one database syncd writes to in a measurement.
type target struct {
	dialect string // "postgres" or "sqlite"
	url     string // SYNCD_DATABASE_URL
	schema  string // Postgres schema
	path    string // SQLite file
}

// syncdEnv is the environment of a syncd process: the caller's, without any
// SYNCD_ setting, plus the given ones.
func syncdEnv(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SYNCD_") {
			env = append(env, e)
		}
	}
	return append(env, append([]string{"SYNCD_HTTP_ADDR=127.0.0.1:0", "SYNCD_LOG_LEVEL=warn", "SYNCD_LOG_FORMAT=text"}, kv...)...)
}

func (t target) env(streams string, extra ...string) []string {
	kv := []string{"SYNCD_STREAMS=" + streams, "SYNCD_DATABASE_URL=" + t.url}
	if t.dialect == "postgres" {
		kv = append(kv, "SYNCD_SCHEMA="+t.schema)
	}
	return syncdEnv(append(kv, extra...)...)
}

// runOnce runs `syncd run --once` (with extra settings) and returns its wall
// time and peak RSS.
func runOnce(ctx context.Context, bin string, t target, streams string, extra ...string) (time.Duration, int64, error) {
	cmd := exec.CommandContext(ctx, bin, "run", "--once")
	cmd.Env = t.env(streams, extra...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	peak := watchRSS(cmd.Process.Pid)
	err := cmd.Wait()
	d := time.Since(start)
	rss := peak()
	if err != nil {
		return 0, 0, fmt.Errorf("syncd run --once into %s: %w\n%s", t.dialect, err, stderr.String())
	}
	return d, rss, nil
}

// watchRSS polls the peak resident set size (VmHWM) of a running process
// until the returned function is called, which returns the peak in bytes.
// The rusage of the finished child is no use here: on Linux its ru_maxrss
// includes the RSS of this process, which the child shared until exec.
func watchRSS(pid int) func() int64 {
	var mu sync.Mutex
	var peak int64
	stop := make(chan struct{})
	done := make(chan struct{})
	status := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := vmHWM(status); kb > 0 {
				mu.Lock()
				peak = max(peak, kb*1024)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// vmHWM reads the VmHWM line (kB) of a /proc status file, 0 if unknown.
func vmHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// verifyTables checks that the entity tables hold exactly w's expected
// state (row count and digest per type) and that the stream's checkpoint
// counts every event. db is a database/sql handle on either dialect (for
// Postgres with search_path set to syncd's schema); both accept $n
// placeholders and double-quoted identifiers.
func verifyTables(ctx context.Context, db *sql.DB, stream string, w *workload) error {
	var events int64
	if err := db.QueryRowContext(ctx, `SELECT events_applied FROM syncd_checkpoints WHERE stream = $1`, stream).Scan(&events); err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	if events != int64(w.events) {
		return fmt.Errorf("checkpoint says %d events applied, want %d", events, w.events)
	}
	for typ, want := range w.want {
		var table string
		if err := db.QueryRowContext(ctx, `SELECT table_name FROM syncd_types WHERE type = $1`, typ).Scan(&table); err != nil {
			return fmt.Errorf("table of type %q: %w", typ, err)
		}
		rows, err := db.QueryContext(ctx, `SELECT key, CAST(value AS TEXT) FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
		if err != nil {
			return err
		}
		got, err := digestRows(func(dst ...any) bool { return rows.Next() && rows.Scan(dst...) == nil }, rows.Err)
		rows.Close()
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("type %q: table holds %d rows (checksum %x), want %d (checksum %x)", typ, got.Rows, got.Sum, want.Rows, want.Sum)
		}
	}
	return nil
}

// openTarget opens a database/sql handle on a measurement's database.
func openTarget(t target, pgURL string) (*sql.DB, error) {
	if t.dialect == "sqlite" {
		return sql.Open("sqlite", "file:"+t.path)
	}
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["search_path"] = t.schema
	return stdlib.OpenDB(*cfg), nil
}

// digestRows digests (key, value) rows read through next.
func digestRows(next func(dst ...any) bool, rowsErr func() error) (digest, error) {
	var d digest
	var key, value string
	for next(&key, &value) {
		h, err := rowHash(key, []byte(value))
		if err != nil {
			return d, err
		}
		d.Rows++
		d.Sum += h
	}
	return d, rowsErr()
}
