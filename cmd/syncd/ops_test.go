package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

var listenLine = regexp.MustCompile(`ops endpoints listening"? addr=(\S+)`)

// startWithOps is startLive logging at info, and returns once the ops server
// listens, with its address in the run's addr.
func startWithOps(t *testing.T, environ []string) *liveRun {
	t.Helper()
	r := startLive(t, append(append([]string(nil), environ...), "SYNCD_LOG_LEVEL=info"))
	eventually(t, 20*time.Second, "the ops server to listen", func() bool {
		m := listenLine.FindStringSubmatch(r.out.String())
		if m != nil {
			r.addr = m[1]
		}
		return m != nil
	})
	return r
}

// get fetches a path from the run's ops server (see startWithOps).
func (r *liveRun) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample whose name and labels match, or -1.
func metric(body, name string, labels ...string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			return v
		}
	}
	return -1
}

func TestMetricsAndHealth(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "metrics-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		events := []any{
			change("user", "k1", "insert", 1), change("user", "k2", "insert", 2), change("user", "k3", "insert", 3),
			change("user", "k4", "insert", 4), change("room", "k5", "insert", 5),
			change("user", "k1", "update", 11), change("user", "k2", "update", 12),
			change("room", "k6", "upsert", 6),
			change("user", "k3", "delete", nil), change("user", "k7", "delete", nil),
			json.RawMessage(`"not an event"`), map[string]any{"headers": map[string]any{"control": "explode"}},
		}
		if _, err := srv.Append(ctx, name, events...); err != nil {
			t.Fatal(err)
		}
		l := startWithOps(t, b.env("SYNCD_STREAMS="+srv.StreamURL(name)))
		if code, _ := l.get(t, "/healthz"); code != 200 {
			t.Errorf("/healthz = %d", code)
		}
		eventually(t, 20*time.Second, "/readyz 200", func() bool { code, _ := l.get(t, "/readyz"); return code == 200 })

		_, body := l.get(t, "/metrics")
		s := `stream="` + name + `"`
		want := []struct {
			name   string
			labels []string
			value  float64
		}{
			{"syncd_events_applied_total", []string{s, `operation="insert"`}, 5},
			{"syncd_events_applied_total", []string{s, `operation="update"`}, 2},
			{"syncd_events_applied_total", []string{s, `operation="upsert"`}, 1},
			{"syncd_events_applied_total", []string{s, `operation="delete"`}, 2},
			{"syncd_rejects_total", []string{s}, 2},
			{"syncd_commits_total", []string{s}, 1},
			{"syncd_rows_written_total", []string{s, `kind="upsert"`}, 5},
			{"syncd_rows_written_total", []string{s, `kind="delete"`}, 2},
			{"syncd_http_requests_total", []string{s, `mode="catch-up"`, `status="200"`}, 1},
			{"syncd_up_to_date", []string{s}, 1},
			{"syncd_uncommitted_events", []string{s}, 0},
			{"syncd_stream_stopped", []string{s}, 0},
			{"syncd_commit_duration_seconds_count", []string{s}, 1},
		}
		for _, w := range want {
			if got := metric(body, w.name, w.labels...); got != w.value {
				t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		if got := metric(body, "syncd_read_bytes_total", s); got <= 0 {
			t.Errorf("syncd_read_bytes_total = %v, want > 0", got)
		}
		if got := metric(body, "syncd_seconds_since_up_to_date_commit", s); got < 0 {
			t.Errorf("syncd_seconds_since_up_to_date_commit missing")
		}
	})
}

func TestHaltStopsOnlyThatStream(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		bad, good := "halt-bad-"+b.name, "halt-good-"+b.name
		m := newModel()
		for _, n := range []string{bad, good} {
			if err := srv.Create(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		first := []any{change("doc", "a", "insert", 1)}
		if _, err := srv.Append(ctx, bad, first...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, bad, first...)
		streams := "SYNCD_STREAMS=" + srv.StreamURL(bad) + "," + srv.StreamURL(good)
		runOnce(t, b.env(streams))
		goodOffset, _, _, _ := b.checkpoint(t, bad)

		// The bad batch: valid events around one invalid message.
		badBatch := []any{change("doc", "b", "insert", 2), map[string]any{"type": "doc", "headers": map[string]any{"operation": "insert"}}, change("doc", "c", "insert", 3)}
		if _, err := srv.Append(ctx, bad, badBatch...); err != nil {
			t.Fatal(err)
		}
		l := startWithOps(t, b.env(streams, "SYNCD_ON_INVALID=halt"))
		var ready string
		eventually(t, 20*time.Second, "/readyz to report the halt", func() bool {
			code, body := l.get(t, "/readyz")
			ready = body
			return code == 503 && strings.Contains(body, "halted")
		})
		if !strings.Contains(ready, goodOffset) || !strings.Contains(ready, "message 1") || !strings.Contains(ready, "key is missing") {
			t.Errorf("/readyz does not name offset %s, position and reason: %s", goodOffset, ready)
		}
		// The other stream goes on.
		more := []any{change("doc", "g1", "insert", "live")}
		if _, err := srv.Append(ctx, good, more...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, good, more...)
		eventually(t, 20*time.Second, "the good stream's live row", func() bool { return b.tables(t)["doc"]["g1"].Stream == good })
		if code := l.stop(t); code != 0 {
			t.Errorf("exit %d after halt and shutdown", code)
		}
		// The halted stream's checkpoint stayed before the bad batch, and
		// status says why.
		if off, _, _, _ := b.checkpoint(t, bad); off != goodOffset {
			t.Errorf("halted checkpoint moved to %s, want %s", off, goodOffset)
		}
		code, out := syncdRun(ctx, b.env(), "status", "--json")
		if code != 0 || !strings.Contains(out, "key is missing") {
			t.Errorf("status does not show the halt: %d %s", code, out)
		}
		// The operator switches to dead-letter: syncing resumes exactly.
		m.apply(t, bad, badBatch...)
		runOnce(t, b.env(streams))
		assertTables(t, b, m)
		if _, applied, rejects, _ := b.checkpoint(t, bad); applied != 3 || rejects != 1 {
			t.Errorf("after resume: events_applied=%d rejects=%d, want 3 and 1", applied, rejects)
		}
		code, out = syncdRun(ctx, b.env(), "status", "--json")
		if code != 0 || strings.Contains(out, "key is missing") {
			t.Errorf("status still shows the halt after a commit: %s", out)
		}
	})
}

func TestStatusRejectsAndReset(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name, other := "ops-"+b.name, "zz-ops-other-"+b.name
		m := newModel()
		events := []any{change("item", "a", "insert", 1), change("item", "b", "insert", 2), json.RawMessage(`{"type":"item","key":"x","headers":{"operation":"upsert"}}`)}
		otherEvents := []any{change("item", "z", "insert", 26)}
		for n, evs := range map[string][]any{name: events, other: otherEvents} {
			if err := srv.Create(ctx, n); err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Append(ctx, n, evs...); err != nil {
				t.Fatal(err)
			}
			m.apply(t, n, evs...)
		}
		env := b.env("SYNCD_STREAMS=" + srv.StreamURL(name) + "," + srv.StreamURL(other))
		runOnce(t, env)

		code, out := syncdRun(ctx, env, "status", "--json")
		var st struct{ Streams []streamStatusJSON }
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st); code != 0 || err != nil || len(st.Streams) != 2 {
			t.Fatalf("status --json: %d %v %s", code, err, out)
		}
		s0 := st.Streams[0]
		if s0.Stream != name || s0.AtTail == nil || !*s0.AtTail || !s0.UpToDate || s0.EventsApplied != 2 || s0.Rejects != 1 || s0.URL != srv.StreamURL(name) {
			t.Errorf("status of %s = %+v", name, s0)
		}
		if code, out = syncdRun(ctx, env, "status"); code != 0 || !strings.Contains(out, "AT-TAIL") || !strings.Contains(out, name) {
			t.Errorf("status table: %d %s", code, out)
		}

		code, out = syncdRun(ctx, env, "rejects", "--json", "--stream", name)
		var rj rejectJSON
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rj); code != 0 || err != nil {
			t.Fatalf("rejects --json: %d %v %s", code, err, out)
		}
		if len(rj.Raw) == 0 || !json.Valid(rj.Raw) || !strings.Contains(rj.Reason, "value is missing") || rj.Position != 2 {
			t.Errorf("reject = %+v", rj)
		}
		// The raw message is JSON in the line, not a string holding JSON.
		if !strings.Contains(out, `"raw":{`) {
			t.Errorf("rejects --json prints the raw message as a string: %s", out)
		}
		if code, out = syncdRun(ctx, env, "rejects"); code != 0 || !strings.Contains(out, "value is missing") {
			t.Errorf("rejects table: %d %s", code, out)
		}

		// reset removes that stream's rows and checkpoint only.
		if code, out = syncdRun(ctx, env, "reset", name); code != 0 {
			t.Fatalf("reset: %d %s", code, out)
		}
		if got := b.tables(t)["item"]; len(got) != 1 || got["z"].Stream != other {
			t.Errorf("after reset: %v", got)
		}
		if code, out = syncdRun(ctx, env, "reset", "no-such-stream"); code == 0 || !strings.Contains(out, "no checkpoint") {
			t.Errorf("reset of an unknown stream: %d %s", code, out)
		}
		runOnce(t, env)
		assertTables(t, b, m)
		if _, applied, rejects, _ := b.checkpoint(t, name); applied != 2 || rejects != 1 {
			t.Errorf("after reset and re-run: applied=%d rejects=%d", applied, rejects)
		}
	})
}
