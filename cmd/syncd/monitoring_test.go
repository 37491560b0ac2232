package main

// Checks of the monitoring files under deploy/: the Prometheus alerting rules
// (deploy/monitoring/syncd-alerts.yaml), their copy as a Prometheus Operator
// PrometheusRule (deploy/k8s/monitoring), their promtool unit tests, the
// Grafana dashboard, and that every series they name is one a running syncd
// exports. promtool (Debian's prometheus package) runs the rule tests and
// `promtool check metrics`; without it those parts skip, unless
// SYNCD_TEST_REQUIRE_PROMTOOL=1 (as in CI), which makes them fail.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	sigsjson "sigs.k8s.io/json"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/syncd-io/syncd/internal/dstest"
)

var updateMonitoring = flag.Bool("update-monitoring", false,
	"rewrite deploy/k8s/monitoring/prometheusrule.yaml from deploy/monitoring/syncd-alerts.yaml")

var (
	alertsFile    = filepath.Join(deployRoot, "deploy", "monitoring", "syncd-alerts.yaml")
	ruleTestsGlob = filepath.Join(deployRoot, "deploy", "monitoring", "tests", "*.yaml")
	dashboardFile = filepath.Join(deployRoot, "deploy", "monitoring", "syncd-dashboard.json")
	promRuleFile  = filepath.Join(deployRoot, "deploy", "k8s", "monitoring", "prometheusrule.yaml")
)

// ruleGroups is a Prometheus rule file, and the spec of a PrometheusRule.
type ruleGroups struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// prometheusRule is the part of a Prometheus Operator PrometheusRule used
// here (its Go types live in a large module of their own).
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec ruleGroups `json:"spec"`
}

// decodeYAMLStrict decodes one YAML document into dst; unknown or duplicate
// fields are errors, as Prometheus and the API server treat them.
func decodeYAMLStrict(t *testing.T, path string, raw []byte, dst any) {
	t.Helper()
	js, err := k8syaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	strict, err := sigsjson.UnmarshalStrict(js, dst, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil || len(strict) > 0 {
		t.Fatalf("%s: %v %v", path, err, strict)
	}
}

func loadAlerts(t *testing.T) (ruleGroups, []byte) {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rg ruleGroups
	decodeYAMLStrict(t, alertsFile, raw, &rg)
	return rg, raw
}

func alerts(rg ruleGroups) []rule {
	var out []rule
	for _, g := range rg.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// prometheusRuleHeader precedes the rule file's groups, indented under spec,
// in the generated PrometheusRule.
const prometheusRuleHeader = `# GENERATED from deploy/monitoring/syncd-alerts.yaml: do not edit. Edit that
# file, then run
#   go test ./cmd/syncd -run TestMonitoringPrometheusRule -update-monitoring
# The alerts syncd's rules define, for the Prometheus Operator. Your Prometheus
# resource's ruleSelector may require an extra label (often release: <helm
# release name>): add it in your overlay (a kustomize labels entry or patch).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: chat-app-syncd
  labels:
    app.kubernetes.io/name: chat-app
spec:
`

// generatedPrometheusRule is the PrometheusRule text for the rule file raw:
// the header, then the file from its groups key on, comments and block
// scalars kept, indented under spec.
func generatedPrometheusRule(t *testing.T, raw []byte) []byte {
	t.Helper()
	start := bytes.Index(raw, []byte("\ngroups:"))
	if start < 0 {
		t.Fatalf("%s: no top-level groups key", alertsFile)
	}
	var b bytes.Buffer
	b.WriteString(prometheusRuleHeader)
	for line := range strings.Lines(string(raw[start+1:])) {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// TestMonitoringPrometheusRule: the PrometheusRule is the rule file's groups
// and nothing else (one source of truth), and the monitoring kustomization
// renders it.
func TestMonitoringPrometheusRule(t *testing.T) {
	t.Parallel()
	rg, raw := loadAlerts(t)
	want := generatedPrometheusRule(t, raw)
	if *updateMonitoring {
		if err := os.WriteFile(promRuleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(promRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not generated from %s: run\n  go test ./cmd/syncd -run TestMonitoringPrometheusRule -update-monitoring", promRuleFile, alertsFile)
	}
	objs := renderKustomize(t, filepath.Join(deployRoot, "deploy", "k8s", "monitoring"))
	if len(objs.prometheusRules) != 1 {
		t.Fatalf("deploy/k8s/monitoring renders %d PrometheusRules, want 1", len(objs.prometheusRules))
	}
	if !reflect.DeepEqual(objs.prometheusRules[0].Spec, rg) {
		t.Errorf("the rendered PrometheusRule's groups differ from %s", alertsFile)
	}
}

// TestMonitoringAlertsDocumented: every alert has a severity, a summary, a
// runbook-style description, a promtool test that expects it to fire, and a
// row in the README's alerts table.
func TestMonitoringAlertsDocumented(t *testing.T) {
	t.Parallel()
	rg, _ := loadAlerts(t)
	as := alerts(rg)
	want := []string{"SyncdStreamStopped", "SyncdStreamNotUpToDate", "SyncdRejects", "SyncdStreamReadRetries", "SyncdCommitsSlow", "SyncdStreamUnowned"}
	var names []string
	for _, a := range as {
		names = append(names, a.Alert)
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("%s: no alert %s", alertsFile, w)
		}
	}
	tested := firingAlertTests(t)
	readme, err := os.ReadFile(filepath.Join(deployRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if s := a.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", a.Alert, s)
		}
		if strings.TrimSpace(a.Annotations["summary"]) == "" {
			t.Errorf("%s: no summary", a.Alert)
		}
		d := a.Annotations["description"]
		for _, part := range []string{"Check:", "Do:"} {
			if !strings.Contains(d, part) {
				t.Errorf("%s: the description lacks its %q part (what to look at, what to do)", a.Alert, part)
			}
		}
		if !tested[a.Alert] {
			t.Errorf("%s: no promtool test in %s expects it to fire", a.Alert, ruleTestsGlob)
		}
		if !bytes.Contains(readme, []byte("| `"+a.Alert+"` |")) {
			t.Errorf("%s: not in the README's alerts table", a.Alert)
		}
	}
}

// firingAlertTests returns the alerts that some promtool test case expects
// to fire.
func firingAlertTests(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(ruleTestsGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests match %s: %v", ruleTestsGlob, err)
	}
	out := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string           `json:"alertname"`
					ExpAlerts []map[string]any `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		js, err := k8syaml.YAMLToJSON(raw)
		if err == nil {
			err = json.Unmarshal(js, &doc)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range doc.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					out[a.Alertname] = true
				}
			}
		}
	}
	return out
}

// promtool returns the path of promtool, or skips the test when it is not
// installed, unless SYNCD_TEST_REQUIRE_PROMTOOL=1.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool is not installed (Debian: apt-get install prometheus)"
		if os.Getenv("SYNCD_TEST_REQUIRE_PROMTOOL") == "1" {
			t.Fatal(msg + ", and SYNCD_TEST_REQUIRE_PROMTOOL=1")
		}
		t.Skip(msg + "; skipping")
	}
	return p
}

// TestMonitoringPromtool checks the rule file and runs its unit tests.
func TestMonitoringPromtool(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	tests, err := filepath.Glob(ruleTestsGlob)
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests match %s: %v", ruleTestsGlob, err)
	}
	for _, args := range [][]string{{"check", "rules", alertsFile}, append([]string{"test", "rules"}, tests...)} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboard is the part of a Grafana dashboard checked here.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Panels     []dashPanel     `json:"panels"`
	Targets    []struct {
		Datasource json.RawMessage `json:"datasource"`
		Expr       string          `json:"expr"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panels returns every panel, those in collapsed rows included.
func (d dashboard) panels() []dashPanel {
	var out []dashPanel
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// exprs returns the PromQL of every panel target and query variable.
func (d dashboard) exprs() []string {
	var out []string
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		if m := labelValues.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		out = append(out, q)
	}
	return out
}

// TestMonitoringDashboard: the dashboard is valid JSON, takes its data source
// from a template variable, and shows what operators look for.
func TestMonitoringDashboard(t *testing.T) {
	t.Parallel()
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: no title or uid", dashboardFile)
	}
	dsVar := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = v.Name
		}
	}
	if dsVar == "" {
		t.Fatalf("%s: no Prometheus datasource template variable", dashboardFile)
	}
	uses := func(raw json.RawMessage) bool {
		var ds struct{ UID string }
		return json.Unmarshal(raw, &ds) == nil && (ds.UID == "$"+dsVar || ds.UID == "${"+dsVar+"}")
	}
	ids := map[int]string{}
	for _, p := range d.panels() {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || !uses(p.Datasource) {
			t.Errorf("panel %q: no targets, or its datasource is not ${%s}", p.Title, dsVar)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || !uses(tg.Datasource) {
				t.Errorf("panel %q: a target without expr or not on ${%s}", p.Title, dsVar)
			}
		}
	}
	all := strings.Join(d.exprs(), "\n")
	for _, want := range []string{
		"syncd_up_to_date", "syncd_seconds_since_up_to_date_commit", "syncd_events_applied_total",
		"syncd_read_bytes_total", "syncd_commit_duration_seconds_bucket", "syncd_rejects_total",
		"syncd_http_requests_total", "syncd_retries_total", "syncd_lease_owned",
		"process_resident_memory_bytes", "go_gc_duration_seconds",
	} {
		if !slices.Contains(exprNames(all), want) {
			t.Errorf("%s: no panel shows %s", dashboardFile, want)
		}
	}
	if !strings.Contains(all, "histogram_quantile(") || !strings.Contains(all, "sum by (mode, status)") {
		t.Errorf("%s: commit duration quantiles or requests by mode and status are missing", dashboardFile)
	}
}

// labelListWords precede a parenthesized list of label names.
var labelListWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promqlWords are PromQL keywords that are not series names.
var promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true, "inf": true, "nan": true, "start": true, "end": true}

// exprNames returns the series names a PromQL expression selects: the
// identifiers that are not functions, aggregations, keywords, label names
// (in matchers and by/on lists), strings, numbers, durations or Grafana
// variables.
func exprNames(expr string) []string {
	var names []string
	ident := func(c byte) bool {
		return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	// skip returns the index after the close that ends what opens at i,
	// stepping over quoted strings.
	skip := func(i int, close byte) int {
		for i++; i < len(expr) && expr[i] != close; {
			if q := expr[i]; q == '"' || q == '\'' || q == '`' {
				i = stringEnd(expr, i)
			} else {
				i++
			}
		}
		return i + 1
	}
	nextNonSpace := func(i int) byte {
		for ; i < len(expr); i++ {
			if c := expr[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return c
			}
		}
		return 0
	}
	labelList := false
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = stringEnd(expr, i)
		case c == '{':
			i = skip(i, '}')
		case c == '[':
			i = skip(i, ']')
		case c == '(' && labelList:
			i = skip(i, ')')
			labelList = false
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				i = skip(i, '}')
			}
			for i < len(expr) && ident(expr[i]) {
				i++
			}
		case '0' <= c && c <= '9' || c == '.':
			for i < len(expr) && (ident(expr[i]) || expr[i] == '.') {
				i++
			}
		case ident(c):
			j := i
			for j < len(expr) && ident(expr[j]) {
				j++
			}
			word := expr[i:j]
			switch {
			case labelListWords[word]:
				labelList = nextNonSpace(j) == '('
			case promqlWords[strings.ToLower(word)], nextNonSpace(j) == '(', aggregationWithLabels(expr[j:]):
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

// aggregationWithLabels reports whether rest, what follows an identifier,
// starts with a by or without clause: the identifier is an aggregation
// written as `sum by (x) (...)`.
func aggregationWithLabels(rest string) bool {
	rest = strings.TrimLeft(rest, " \t\r\n")
	for _, w := range []string{"by", "without"} {
		if after, ok := strings.CutPrefix(rest, w); ok && strings.HasPrefix(strings.TrimLeft(after, " \t\r\n"), "(") {
			return true
		}
	}
	return false
}

// stringEnd returns the index after the quoted string that opens at i.
func stringEnd(s string, i int) int {
	q := s[i]
	for i++; i < len(s) && s[i] != q; i++ {
		if s[i] == '\\' && q != '`' {
			i++
		}
	}
	return i + 1
}

func TestMonitoringExprNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`syncd_stream_stopped == 1`, []string{"syncd_stream_stopped"}},
		{`(syncd_up_to_date == 0) unless (syncd_stream_stopped == 1)`, []string{"syncd_up_to_date", "syncd_stream_stopped"}},
		{`increase(syncd_rejects_total[10m]) > 0 or (syncd_rejects_total unless syncd_rejects_total offset 10m)`, []string{"syncd_rejects_total", "syncd_rejects_total", "syncd_rejects_total"}},
		{`histogram_quantile(0.99, sum by (stream, le) (rate(syncd_commit_duration_seconds_bucket{job=~"$job", stream=~"a{b}"}[$__rate_interval])))`, []string{"syncd_commit_duration_seconds_bucket"}},
		{`max by (namespace, job, stream) (max_over_time(syncd_lease_owned[1h])) unless on (namespace, job, stream) max by (namespace, job, stream) (syncd_lease_owned)`, []string{"syncd_lease_owned", "syncd_lease_owned"}},
		{`sum(rate(a_total[5m])) by (x) / on (x) group_left (y) b_info * 1e3`, []string{"a_total", "b_info"}},
		{`go_gc_duration_seconds{quantile="1"} # the longest pause`, []string{"go_gc_duration_seconds"}},
		{`label_replace(up, "a", "$1", "b", "(.*)")`, []string{"up"}},
		{"count by (owner) (syncd_lease_owned)\n/ max without (x) (b)", []string{"syncd_lease_owned", "b"}},
		{`sum_by_x{a="b"} + by_total`, []string{"sum_by_x", "by_total"}},
	} {
		if got := exprNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("exprNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// monitoredNames returns each series name the rules and the dashboard
// select, with where it is used.
func monitoredNames(t *testing.T) map[string]string {
	t.Helper()
	rg, _ := loadAlerts(t)
	names := map[string]string{}
	for _, g := range rg.Groups {
		for _, r := range g.Rules {
			for _, n := range exprNames(r.Expr) {
				names[n] = "rule " + r.Alert + r.Record
			}
		}
	}
	for _, e := range loadDashboard(t).exprs() {
		for _, n := range exprNames(e) {
			if _, ok := names[n]; !ok {
				names[n] = "dashboard"
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d series names found in the rules and dashboard: %v", len(names), slices.Sorted(maps.Keys(names)))
	}
	return names
}

// sampleNames returns the names of the samples in a text exposition.
func sampleNames(body string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(body) {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// TestMonitoringSeriesExported runs syncd against the reference server and
// Postgres in a way that produces every series (commits, rejects, a failed
// read and its retry, SSE reconnects, leases), then checks that /metrics has
// a sample of each series the rules and the dashboard name, and that
// `promtool check metrics` accepts the exposition.
func TestMonitoringSeriesExported(t *testing.T) {
	t.Parallel()
	want := monitoredNames(t)
	// Long-poll and SSE keep-alive 5 s, longer than syncd's SSE idle timeout
	// (1 s): syncd drops the silent connection and reconnects.
	srv := dstest.StartT(t, dstest.Options{Registry: true, LongPollTimeout: 5 * time.Second})
	b := postgresBackend(t)
	ctx := context.Background()
	// A fixed stream with leases: the lease manager starts it, and it must
	// be reported once (a loop of the fixed list that never ran used to be
	// reported beside it: /readyz 503 forever, /metrics a duplicate series).
	name := "monitoring/chat"
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	events := []any{
		change("user", "k1", "insert", 1), change("user", "k2", "upsert", 2), change("user", "k1", "delete", nil),
		json.RawMessage(`"not an event"`),
	}
	if _, err := srv.Append(ctx, name, events...); err != nil {
		t.Fatal(err)
	}
	// The first read fails once: a retry, and a request with status 503.
	if err := srv.Inject(ctx, dstest.Fault{Path: "/v1/stream/" + name, Method: "GET", Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	run := startWithOps(t, b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/"+name, "SYNCD_LIVE=sse",
		"SYNCD_SSE_IDLE_TIMEOUT=1s", "SYNCD_LEASES=on", "SYNCD_REPLICA_ID=monitoring-test"))

	var body string
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body = run.get(t, "/metrics")
		have := sampleNames(body)
		missing = missing[:0]
		for n := range want {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, readyz := run.get(t, "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready with one leased fixed stream: %d %s", code, readyz)
		}
	}
	slices.Sort(missing)
	for _, n := range missing {
		declared := strings.Contains(body, "# TYPE "+n+" ")
		t.Errorf("%s (used by the %s) has no sample in /metrics (declared: %v)", n, want[n], declared)
	}
	if s := `stream="monitoring/chat"`; metric(body, "syncd_retries_total", s) < 1 || metric(body, "syncd_http_requests_total", s, `status="503"`) < 1 ||
		metric(body, "syncd_rejects_total", s) != 1 || metric(body, "syncd_lease_owned", s, `owner="monitoring-test"`) != 1 {
		t.Errorf("the run did not produce the retry, reject and lease it was set up for:\n%s", body)
	}

	t.Run("promtool check metrics", func(t *testing.T) {
		cmd := exec.Command(promtool(t), "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
