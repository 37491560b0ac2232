package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// metric is one figure of the table.
type metric struct {
	key   string
	label string
	unit  string
	// target, when set, is the goal: at most (lower) or at least
	// (!lower) this value, judged on the median.
	target float64
	lower  bool
}

var metrics = []metric{
	{key: "mem_read_w1_mb", label: "[mem] W1 body", unit: "MB"},
	{key: "mem_read_w1_s", label: "[mem] pure read W1 (GET to up-to-date)", unit: "s"},
	{key: "mem_split_w1_s", label: "[mem] read + split + validate W1 (syncd's consumer)", unit: "s"},
	{key: "mem_w1_postgres_s", label: "[mem] W1 catch-up → Postgres", unit: "s"},
	{key: "mem_w1_postgres_floor_s", label: "  floor: Postgres INSERT … SELECT of the rows", unit: "s"},
	{key: "mem_w1_postgres_floor_ratio", label: "  ÷ (pure read + floor)", unit: "×", target: 3, lower: true},
	{key: "mem_w1_postgres_rss_mb", label: "  peak RSS", unit: "MB", target: 150, lower: true},
	{key: "mem_w1_postgres_vs_compare", label: "  -syncd ÷ -compare (same run)", unit: "×"},
	{key: "mem_w1_sqlite_s", label: "[mem] W1 catch-up → SQLite", unit: "s"},
	{key: "mem_w1_sqlite_floor_s", label: "  floor: SQLite INSERT … SELECT, one tx", unit: "s"},
	{key: "mem_w1_sqlite_floor_ratio", label: "  ÷ (pure read + floor)", unit: "×", target: 3, lower: true},
	{key: "mem_w1_sqlite_rss_mb", label: "  peak RSS", unit: "MB", target: 150, lower: true},
	{key: "mem_w1_sqlite_vs_compare", label: "  -syncd ÷ -compare (same run)", unit: "×"},
	{key: "mem_w2_postgres_s", label: "[mem] W2 → Postgres (syncd run --once)", unit: "s"},
	{key: "mem_copy_s", label: "[mem] raw COPY of W2's rows (same run)", unit: "s"},
	{key: "mem_w2_copy_ratio", label: "[mem] W2 end-to-end rate ÷ COPY rate", unit: "×", target: 0.70},
	{key: "mem_w2_sink_copy_ratio", label: "[mem] W2 sink rate ÷ COPY rate", unit: "×", target: 0.70},
	{key: "read_w1_mb", label: "[node] W1 body (decoded)", unit: "MB"},
	{key: "read_w1_s", label: "pure read W1 (GET to up-to-date, discard)", unit: "s"},
	{key: "split_w1_s", label: "read + split + validate W1 (syncd's consumer)", unit: "s"},
	{key: "w1_postgres_s", label: "W1 catch-up → Postgres (syncd run --once)", unit: "s"},
	{key: "w1_postgres_ratio", label: "  ÷ pure read", unit: "×", target: 1.15, lower: true},
	{key: "w1_postgres_rss_mb", label: "  peak RSS", unit: "MB", target: 150, lower: true},
	{key: "w1_postgres_floor_ratio", label: "  ÷ (pure read + floor)", unit: "×"},
	{key: "w1_sqlite_s", label: "W1 catch-up → SQLite (syncd run --once)", unit: "s"},
	{key: "w1_sqlite_ratio", label: "  ÷ pure read", unit: "×", target: 1.15, lower: true},
	{key: "w1_sqlite_rss_mb", label: "  peak RSS", unit: "MB", target: 150, lower: true},
	{key: "w1_sqlite_floor_ratio", label: "  ÷ (pure read + floor)", unit: "×"},
	{key: "w1_postgres_schema_s", label: "W1 → Postgres with a JSON Schema per type", unit: "s"},
	{key: "w1_postgres_schema_cost_s", label: "  validation cost (vs the same run without)", unit: "s"},
	{key: "w1_postgres_schema_rss_mb", label: "  peak RSS", unit: "MB"},
	{key: "w1_postgres_history_s", label: "W1 → Postgres with history on every type", unit: "s"},
	{key: "w1_postgres_history_cost_s", label: "  history cost (vs the same run without)", unit: "s"},
	{key: "w1_postgres_history_rss_mb", label: "  peak RSS", unit: "MB"},
	{key: "w1_sqlite_history_s", label: "W1 → SQLite with history on every type", unit: "s"},
	{key: "w1_sqlite_history_cost_s", label: "  history cost (vs the same run without)", unit: "s"},
	{key: "w1_sqlite_history_rss_mb", label: "  peak RSS", unit: "MB"},
	{key: "read_w2_s", label: "pure read W2", unit: "s"},
	{key: "w2_postgres_s", label: "W2 → Postgres (syncd run --once)", unit: "s"},
	{key: "w2_postgres_rows_per_s", label: "  rate", unit: "rows/s"},
	{key: "copy_s", label: "raw COPY of W2's rows (pgx CopyFrom)", unit: "s"},
	{key: "copy_rows_per_s", label: "  rate", unit: "rows/s"},
	{key: "w2_copy_ratio", label: "W2 end-to-end rate ÷ COPY rate", unit: "×", target: 0.70},
	{key: "w2_sink_s", label: "W2 sink write alone (Begin+Write+Commit)", unit: "s"},
	{key: "w2_sink_rows_per_s", label: "  rate", unit: "rows/s"},
	{key: "w2_sink_copy_ratio", label: "W2 sink rate ÷ COPY rate", unit: "×", target: 0.70},
	{key: "w1_mysql_s", label: "W1 catch-up → MariaDB/MySQL (syncd run --once)", unit: "s"},
	{key: "w1_mysql_load_s", label: "  fastest plain load of its final rows, same server", unit: "s"},
	{key: "w1_mysql_load_ratio", label: "  plain load ÷ syncd", unit: "×"},
	{key: "w1_mysql_rss_mb", label: "  peak RSS", unit: "MB"},
	{key: "w2_mysql_s", label: "W2 → MariaDB/MySQL (syncd run --once)", unit: "s"},
	{key: "w2_mysql_load_s", label: "  fastest plain load of its rows, same server", unit: "s"},
	{key: "w2_mysql_load_ratio", label: "  plain load ÷ syncd", unit: "×"},
	{key: "live_postgres_sse_p50_ms", label: "live Postgres SSE p50", unit: "ms"},
	{key: "live_postgres_sse_p99_ms", label: "live Postgres SSE p99", unit: "ms", target: 50, lower: true},
	{key: "live_postgres_longpoll_p50_ms", label: "live Postgres long-poll p50", unit: "ms"},
	{key: "live_postgres_longpoll_p99_ms", label: "live Postgres long-poll p99", unit: "ms"},
	{key: "live_sqlite_sse_p50_ms", label: "live SQLite SSE p50", unit: "ms"},
	{key: "live_sqlite_sse_p99_ms", label: "live SQLite SSE p99", unit: "ms", target: 50, lower: true},
}

// stat is the spread of one figure over the runs.
type stat struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

// report is what the benchmark prints and writes.
type report struct {
	Time    time.Time            `json:"time"`
	Machine map[string]any       `json:"machine"`
	Config  map[string]any       `json:"config"`
	Runs    []map[string]float64 `json:"runs"`
	Summary map[string]stat      `json:"summary"`
}

func newReport(c config, runs []map[string]float64) *report {
	r := &report{
		Time:    time.Now().UTC(),
		Machine: machine(),
		Config: map[string]any{
			"runs": c.runs, "w1_events": c.events, "w1_keys": c.keys, "w1_types": len(entityTypes),
			"w2_inserts": c.w2, "append_batch": appendBatch, "live_events": c.liveEvents,
			"live_rate_per_s": c.liveRate, "seed": c.seed, "sources": c.sources, "mem_chunk_bytes": c.chunk, "mem_gzip": c.memGzip, "mem_latency_ms": c.memLatency.Milliseconds(),
		},
		Runs:    runs,
		Summary: map[string]stat{},
	}
	for _, m := range metrics {
		var v []float64
		for _, run := range runs {
			if x, ok := run[m.key]; ok {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		s := stat{Min: v[0], Median: median(v), Max: v[len(v)-1]}
		if m.target > 0 {
			met := s.Median >= m.target
			s.Target = fmt.Sprintf("≥ %g", m.target)
			if m.lower {
				met = s.Median <= m.target
				s.Target = fmt.Sprintf("≤ %g", m.target)
			}
			s.Met = &met
		}
		r.Summary[m.key] = s
	}
	return r
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// print writes the table: min, median and max of each figure, and the target.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nsyncd-bench: %d run(s) on %v CPUs (%v), %s\n\n", len(r.Runs), r.Machine["cpus"], r.Machine["cpu"], r.Machine["go"])
	fmt.Fprintf(w, "%-44s %12s %12s %12s  %-7s %s\n", "figure", "min", "median", "max", "unit", "target (median)")
	for _, m := range metrics {
		s, ok := r.Summary[m.key]
		if !ok {
			continue
		}
		verdict := ""
		if s.Met != nil {
			verdict = s.Target + map[bool]string{true: "  met", false: "  NOT MET"}[*s.Met]
		}
		fmt.Fprintf(w, "%-44s %12s %12s %12s  %-7s %s\n", m.label, num(s.Min), num(s.Median), num(s.Max), m.unit, verdict)
	}
	fmt.Fprintln(w)
}

func num(x float64) string {
	switch a := math.Abs(x); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", x)
	case a >= 100:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func (r *report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
