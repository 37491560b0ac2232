package main

// Checks the README's reference tables against the program itself, so they
// cannot drift: the Configuration table against Config's env tags (read by
// reflection), the Commands table against `syncd help` and each command's
// flags, and the metrics table against the collectors syncd registers and a
// running syncd's /metrics.

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/subscription"
	"github.com/syncd-io/syncd/internal/syncer"
)

var backticked = regexp.MustCompile("`([^`]+)`")

// markdownTable returns the rows (cells trimmed, header and separator
// dropped) of the first table in text whose header's first cell is first.
func markdownTable(t *testing.T, text, first string) [][]string {
	t.Helper()
	var rows [][]string
	in := false
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in && cells[0] == first:
			in = true
		case in && strings.HasPrefix(cells[0], "---"):
		case in:
			rows = append(rows, cells)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("README: no table with a %q column", first)
	}
	return rows
}

// TestReadmeConfiguration: every variable Config reads is in the
// Configuration table, and the table (and the rest of the README) names no
// SYNCD_* variable that Config does not read.
func TestReadmeConfiguration(t *testing.T) {
	t.Parallel()
	readme := readmeText(t)
	known := configVars(t)
	documented := map[string]bool{}
	for _, row := range markdownTable(t, readmeSection(t, readme, "Configuration"), "variable") {
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			name := m[1]
			documented[name] = true
			if _, ok := known[name]; !ok && name != "GOMEMLIMIT" {
				t.Errorf("the Configuration table documents %s, which syncd's Config does not read", name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(known)) {
		if !documented[name] {
			t.Errorf("Config reads %s (env tag), but the README's Configuration table does not document it", name)
		}
	}
	for _, name := range regexp.MustCompile(`SYNCD_[A-Z0-9_]*[A-Z0-9]`).FindAllString(readme, -1) {
		if _, ok := known[name]; !ok && !strings.HasPrefix(name, "SYNCD_TEST_") {
			t.Errorf("the README names %s, which syncd's Config does not read", name)
		}
	}
}

// helpCommands returns the commands `syncd help` lists.
func helpCommands(t *testing.T) []string {
	t.Helper()
	code, out := syncdRun(context.Background(), nil, "help")
	if code != 0 {
		t.Fatalf("syncd help exited %d:\n%s", code, out)
	}
	_, list, ok := strings.Cut(out, "Commands:\n")
	if !ok {
		t.Fatalf("syncd help has no Commands: list:\n%s", out)
	}
	var names []string
	for line := range strings.SplitSeq(list, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		names = append(names, strings.Fields(line)[0])
	}
	if len(names) < 5 {
		t.Fatalf("syncd help lists only %v", names)
	}
	return names
}

// TestReadmeCommands: every command `syncd help` lists is in the Commands
// table, the table lists no other, and every --flag the table shows is one
// that command's -h lists.
func TestReadmeCommands(t *testing.T) {
	t.Parallel()
	listed := helpCommands(t)
	documented := map[string]bool{}
	flagRe := regexp.MustCompile(`--([a-z][a-z-]*)`)
	for _, row := range markdownTable(t, readmeSection(t, readmeText(t), "Commands"), "command") {
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			f := strings.Fields(m[1])
			if len(f) < 2 || f[0] != "syncd" {
				continue
			}
			cmd := f[1]
			if cmd == "CMD" {
				continue // `syncd CMD -h`
			}
			documented[cmd] = true
			if !slices.Contains(listed, cmd) {
				t.Errorf("the Commands table documents `syncd %s`, which `syncd help` does not list", cmd)
				continue
			}
			if cmd == "help" || cmd == "version" {
				continue
			}
			_, usage := syncdRun(context.Background(), nil, cmd, "-h")
			for _, fm := range flagRe.FindAllStringSubmatch(m[1], -1) {
				if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(fm[1]) + `\b`).MatchString(usage) {
					t.Errorf("the Commands table shows `syncd %s --%s`, but `syncd %s -h` has no such flag:\n%s", cmd, fm[1], cmd, usage)
				}
			}
		}
	}
	for _, cmd := range listed {
		if !documented[cmd] {
			t.Errorf("`syncd help` lists %s, but the README's Commands table does not document it", cmd)
		}
	}
}

// readmeMetric is a row of the README's metrics table.
type readmeMetric struct {
	typ    string
	labels []string
}

// readmeMetrics parses the metrics table: name → type and labels. A row may
// name several metrics (`a` / `b`, or `a`, `b`); each is listed once.
func readmeMetrics(t *testing.T) map[string]readmeMetric {
	t.Helper()
	out := map[string]readmeMetric{}
	for _, row := range markdownTable(t, readmeSection(t, readmeText(t), "Health and metrics"), "metric") {
		if len(row) < 3 {
			t.Fatalf("metrics table row %v: want metric | type | labels | meaning", row)
		}
		var labels []string
		for l := range strings.SplitSeq(row[2], ",") {
			if l = strings.TrimSpace(l); l != "" && l != "—" {
				labels = append(labels, l)
			}
		}
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			if _, dup := out[m[1]]; dup {
				t.Errorf("the metrics table lists %s twice", m[1])
			}
			out[m[1]] = readmeMetric{typ: row[1], labels: labels}
		}
	}
	return out
}

// captureRegisterer records the collectors registered on it.
type captureRegisterer struct{ collectors []prometheus.Collector }

func (c *captureRegisterer) Register(col prometheus.Collector) error {
	c.collectors = append(c.collectors, col)
	return nil
}

func (c *captureRegisterer) MustRegister(cols ...prometheus.Collector) {
	c.collectors = append(c.collectors, cols...)
}

func (c *captureRegisterer) Unregister(prometheus.Collector) bool { return false }

var descRe = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// programMetrics returns every metric syncd's own collectors describe (the
// ones `syncd run` registers besides the Go and process collectors), with
// its type where the collector tells it and its variable labels.
func programMetrics(t *testing.T) map[string]readmeMetric {
	t.Helper()
	reg := &captureRegisterer{}
	metrics.New(reg)
	types := map[prometheus.Collector]string{}
	for _, col := range reg.collectors {
		switch col.(type) {
		case *prometheus.GaugeVec, prometheus.Gauge: // before Counter: a Gauge has Inc and Add too
			types[col] = "gauge"
		case *prometheus.CounterVec, prometheus.Counter:
			types[col] = "counter"
		case *prometheus.HistogramVec, prometheus.Histogram:
			types[col] = "histogram"
		default:
			t.Fatalf("metrics.New registers a %T: teach programMetrics its type", col)
		}
	}
	// The scrape-time collectors of syncer and lease export gauges only.
	for _, col := range []prometheus.Collector{syncer.NewCollector(nil), lease.NewCollector(nil)} {
		types[col] = "gauge"
	}
	// The subscription collector exports gauges and counters (…_total).
	sub := subscription.NewCollector()
	types[sub] = "gauge"
	out := map[string]readmeMetric{}
	for col, typ := range types {
		ch := make(chan *prometheus.Desc, 16)
		go func() { col.Describe(ch); close(ch) }()
		for d := range ch {
			m := descRe.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name and labels of %s", d)
			}
			var labels []string
			if m[2] != "" {
				labels = strings.Split(m[2], ",")
			}
			if col == sub && strings.HasSuffix(m[1], "_total") {
				out[m[1]] = readmeMetric{typ: "counter", labels: labels}
				continue
			}
			out[m[1]] = readmeMetric{typ: typ, labels: labels}
		}
	}
	if len(out) < 15 {
		t.Fatalf("only %d metrics described: %v", len(out), slices.Sorted(maps.Keys(out)))
	}
	return out
}

// TestReadmeMetrics: the metrics table lists exactly the metrics syncd
// exports, with their types and labels. Both what the collectors describe
// and what a running syncd serves on /metrics are compared, so a metric
// registered elsewhere in run still has to be documented.
func TestReadmeMetrics(t *testing.T) {
	t.Parallel()
	doc := readmeMetrics(t)
	prog := programMetrics(t)

	// A short real run: a stream with a change and a reject.
	srv := dstest.StartT(t, dstest.Options{})
	ctx := context.Background()
	if err := srv.Create(ctx, "readme-metrics"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Append(ctx, "readme-metrics", change("user", "k1", "insert", 1), json.RawMessage(`"not an event"`)); err != nil {
		t.Fatal(err)
	}
	b := &backend{name: "sqlite", url: "sqlite:" + filepath.Join(t.TempDir(), "syncd.db"), owner: t}
	run := startWithOps(t, b.env("SYNCD_STREAMS="+srv.StreamURL("readme-metrics")))
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body = run.get(t, "/metrics")
		if metric(body, "syncd_rejects_total") == 1 && metric(body, "syncd_up_to_date") == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	served := map[string]string{}
	for line := range strings.Lines(body) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			served[f[2]] = f[3]
		}
	}
	if served["syncd_rejects_total"] == "" || served["syncd_up_to_date"] == "" {
		t.Fatalf("the run exported no reject or up-to-date sample:\n%s", body)
	}
	for name, typ := range served {
		d, ok := doc[name]
		switch {
		case strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_"):
			continue // the README points to the Go runtime and process collectors as a whole
		case !ok:
			t.Errorf("/metrics serves %s, which the README's metrics table does not list", name)
		case d.typ != typ:
			t.Errorf("the metrics table says %s is a %s; /metrics serves a %s", name, d.typ, typ)
		}
	}
	readme := readmeText(t)
	for _, p := range []string{"`go_*`", "`process_*`"} {
		if !strings.Contains(readme, p) {
			t.Errorf("/metrics serves the %s collector, which the README no longer mentions", p)
		}
	}

	for name, p := range prog {
		d, ok := doc[name]
		if !ok {
			t.Errorf("syncd exports %s, which the README's metrics table does not list", name)
			continue
		}
		if d.typ != p.typ {
			t.Errorf("the metrics table says %s is a %s; syncd registers a %s", name, d.typ, p.typ)
		}
		for _, l := range p.labels {
			if !slices.Contains(d.labels, l) {
				t.Errorf("%s has the label %s, which the metrics table does not list (%v)", name, l, d.labels)
			}
		}
	}
	for name := range doc {
		if _, ok := prog[name]; !ok && served[name] == "" {
			t.Errorf("the metrics table lists %s, which syncd does not export", name)
		}
	}
}
