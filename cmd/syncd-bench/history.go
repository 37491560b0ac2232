package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeHistoryConfig writes a SYNCD_CONFIG file giving each of W1's types
// history: true, and returns its path.
func writeHistoryConfig(dir string) (string, error) {
	var b strings.Builder
	b.WriteString("types:\n")
	for _, typ := range entityTypes {
		fmt.Fprintf(&b, "  %s:\n    history: true\n", typ)
	}
	path := filepath.Join(dir, "syncd.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// measureHistory times the W1 catch-up with history on every type (one
// history row per event) into each database, verifies the entity tables
// and that the history tables hold seq 1..events once each.
func (b *bench) measureHistory(ctx context.Context, run int, r map[string]float64) error {
	dir, err := os.MkdirTemp("", "syncd-bench-history-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath, err := writeHistoryConfig(dir)
	if err != nil {
		return err
	}
	for _, dialect := range []string{"postgres", "sqlite"} {
		if b.cfg.skip[dialect] {
			continue
		}
		t, cleanup, err := b.target(ctx, dialect, fmt.Sprintf("w1h_%d", run))
		if err != nil {
			return err
		}
		d, rss, err := runOnce(ctx, b.bin, t, b.w1.name+"="+b.srv.StreamURL(b.w1.name), "SYNCD_CONFIG="+cfgPath)
		if err == nil {
			err = b.verify(ctx, t, b.w1)
		}
		if err == nil {
			err = b.verifyHistory(ctx, t, b.w1)
		}
		cleanup()
		if err != nil {
			return fmt.Errorf("W1 with history into %s: %w", dialect, err)
		}
		key := "w1_" + dialect + "_history"
		r[key+"_s"], r[key+"_rss_mb"] = d.Seconds(), mb(rss)
		if plain := r["w1_"+dialect+"_s"]; plain > 0 {
			r[key+"_cost_s"] = d.Seconds() - plain
		}
		logf("  W1 → %s with history on every type: %.2f s, peak RSS %.0f MB, verified (%d history rows)", dialect, d.Seconds(), mb(rss), b.w1.events)
	}
	return nil
}

// verifyHistory checks that the history tables of w's types together hold
// one row per event, seq 1..events with none missing or twice.
func (b *bench) verifyHistory(ctx context.Context, t target, w *workload) error {
	db, err := openTarget(t, b.cfg.pgURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var parts []string
	for _, typ := range entityTypes {
		var table string
		if err := db.QueryRowContext(ctx, `SELECT history_table FROM syncd_types WHERE type = $1`, typ).Scan(&table); err != nil {
			return fmt.Errorf("history table of type %q: %w", typ, err)
		}
		parts = append(parts, `SELECT seq FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
	}
	var n, distinct, maxSeq int64
	q := `SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM (` + strings.Join(parts, " UNION ALL ") + `) AS h`
	if err := db.QueryRowContext(ctx, q).Scan(&n, &distinct, &maxSeq); err != nil {
		return fmt.Errorf("read history seqs: %w", err)
	}
	if want := int64(w.events); n != want || distinct != want || maxSeq != want {
		return fmt.Errorf("history: %d rows, %d distinct seqs, max seq %d; want %d of each", n, distinct, maxSeq, want)
	}
	return nil
}
