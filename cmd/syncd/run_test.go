package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

func change(typ, key, op string, value any) map[string]any {
	ev := map[string]any{"type": typ, "key": key, "headers": map[string]any{"operation": op}}
	if op != "delete" {
		ev["value"] = value
	}
	return ev
}

func control(c string) map[string]any {
	return map[string]any{"headers": map[string]any{"control": c}}
}

// mixedEvents is a multi-type stream with every operation, a reset, snapshot
// markers and invalid messages mixed in.
func mixedEvents() []any {
	return []any{
		change("user", "alice", "insert", map[string]any{"name": "Alice", "age": 30}),
		change("user", "bob", "insert", map[string]any{"name": "Bob"}),
		change("room", "general", "upsert", map[string]any{"title": "General"}),
		change("message", "m1", "insert", "a string value"),
		change("message", "m2", "insert", []any{1, 2, 3}),
		change("message", "m3", "insert", nil),
		change("user", "bob", "update", map[string]any{"name": "Bob", "status": "online"}),
		change("user", "carol", "update", map[string]any{"name": "Carol"}), // update of a missing key creates it
		change("message", "m2", "delete", nil),
		change("message", "missing", "delete", nil),                                                               // no-op
		map[string]any{"type": "user", "headers": map[string]any{"operation": "insert"}},                          // reject: no key
		map[string]any{"type": "user", "key": "x", "headers": map[string]any{"operation": "explode"}, "value": 1}, // reject: bad op
		42, // reject: not an object
		control("snapshot-start"),
		change("user", "dave", "insert", map[string]any{"name": "Dave"}),
		control("snapshot-end"),
		change("ключ", "ü-key", "upsert", map[string]any{"unicode": "ok ✓"}),
	}
}

func TestRunOnceMaterializesStream(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "chat-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		events := mixedEvents()
		if _, err := srv.Append(ctx, name, events...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, name, events...)
		env := b.env("SYNCD_STREAMS=" + srv.StreamURL(name))

		runOnce(t, env)
		assertTables(t, b, m)
		offset, applied, rejects, _ := b.checkpoint(t, name)
		if applied != int64(m.changes) || rejects != 3 {
			t.Errorf("events_applied=%d rejects=%d, want %d and 3", applied, rejects, m.changes)
		}
		rj := b.rejects(t, name)
		if len(rj) != 3 || rj[2].Raw != "42" || rj[0].Position != 10 || rj[0].ResponseOffset != "-1" {
			t.Errorf("rejects = %+v", rj)
		}
		for _, r := range rj {
			if r.Reason == "" {
				t.Errorf("reject %+v has no reason", r)
			}
		}

		// A second run finds nothing new: a no-op.
		runOnce(t, env)
		assertTables(t, b, m)
		if o2, a2, r2, _ := b.checkpoint(t, name); o2 != offset || a2 != applied || r2 != rejects {
			t.Errorf("second run changed the checkpoint: %s/%d/%d -> %s/%d/%d", offset, applied, rejects, o2, a2, r2)
		}

		// Appending more and running again applies exactly the new events,
		// including a reset that replaces the stream's rows.
		more := []any{
			change("user", "alice", "upsert", map[string]any{"name": "Alice", "age": 31}),
			control("reset"),
			change("user", "erin", "insert", map[string]any{"name": "Erin"}),
			change("room", "general", "insert", map[string]any{"title": "General 2"}),
		}
		if _, err := srv.Append(ctx, name, more...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, name, more...)
		runOnce(t, env)
		assertTables(t, b, m)
		if _, a3, _, _ := b.checkpoint(t, name); a3 != int64(m.changes) {
			t.Errorf("events_applied=%d after the third run, want %d", a3, m.changes)
		}
	})
}

func TestTwoStreamsIntoOneDatabase(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		m := newModel()
		var urls []string
		for i, name := range []string{"a-" + b.name, "b-" + b.name} {
			if err := srv.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
			events := []any{
				change("user", fmt.Sprintf("only-%d", i), "insert", map[string]any{"from": name}),
				change("room", fmt.Sprintf("r%d", i), "insert", i),
			}
			if _, err := srv.Append(ctx, name, events...); err != nil {
				t.Fatal(err)
			}
			m.apply(t, name, events...)
			urls = append(urls, srv.StreamURL(name))
		}
		runOnce(t, b.env("SYNCD_STREAMS="+strings.Join(urls, ",")))
		assertTables(t, b, m)

		// A reset on one stream removes only that stream's rows.
		reset := []any{control("reset"), change("room", "after-reset", "insert", true)}
		if _, err := srv.Append(ctx, "a-"+b.name, reset...); err != nil {
			t.Fatal(err)
		}
		m.apply(t, "a-"+b.name, reset...)
		runOnce(t, b.env("SYNCD_STREAMS="+strings.Join(urls, ",")))
		assertTables(t, b, m)
	})
}

func TestClosedStreamEndsRun(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "closed-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		events := []any{change("doc", "d1", "insert", map[string]any{"v": 1})}
		if _, err := srv.Append(ctx, name, events...); err != nil {
			t.Fatal(err)
		}
		if err := srv.CloseStream(ctx, name); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		m.apply(t, name, events...)
		// Not --once: the run must end by itself at EOF.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if code, out := syncdRun(ctx, b.env("SYNCD_STREAMS="+srv.StreamURL(name)), "run"); code != 0 || ctx.Err() != nil {
			t.Fatalf("syncd run exited %d (ctx %v):\n%s", code, ctx.Err(), out)
		}
		assertTables(t, b, m)
		if _, _, _, closed := b.checkpoint(t, name); !closed {
			t.Error("checkpoint not marked closed")
		}
	})
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  []string
		want string
	}{
		{nil, "SYNCD_STREAMS is required"},
		{[]string{"SYNCD_STREAMS=ftp://x/y"}, "SYNCD_STREAMS"},
		{[]string{"SYNCD_STREAMS=http://h/v1/stream/a,http://h2/v1/stream/a"}, "appears twice"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_DATABASE_URL=mysql://x"}, "SYNCD_DATABASE_URL"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_DATABASE_URL=postgres://u:hunter2@h/db", "SYNCD_SCHEMA=bad-name"}, "SYNCD_SCHEMA"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_START_OFFSET=5"}, "SYNCD_START_OFFSET"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_ON_INVALID=ignore"}, "dead-letter or halt"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_MAX_BATCH_BYTES=lots"}, "SYNCD_MAX_BATCH_BYTES"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_LIVE=websocket"}, "sse or long-poll"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_LOG_LEVEL=loud"}, "SYNCD_LOG_LEVEL"},
		{[]string{"SYNCD_STREAMS=http://h/s", "SYNCD_LOG_FORMAT=xml"}, "SYNCD_LOG_FORMAT"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			code, out := syncdRun(context.Background(), c.env, "run", "--once")
			if code != exitUsage || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, output %q; want exit %d mentioning %q", code, out, exitUsage, c.want)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("output leaks the database password: %q", out)
			}
		})
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Parallel()
	fs := newFlagSet(&environment{stderr: &syncBuffer{}}, "run", "")
	cfg, _, err := loadConfig([]string{"SYNCD_STREAMS=http://h/v1/stream/a", "SYNCD_LIVE=sse"}, fs, []string{"--live", "long-poll"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Live != "long-poll" || cfg.DatabaseURL != "sqlite:syncd.db" {
		t.Errorf("cfg = %+v", cfg)
	}
	streams, _ := cfg.StreamList()
	if len(streams) != 1 || streams[0].Name != "a" {
		t.Errorf("streams = %+v", streams)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	code, out := syncdRun(context.Background(), nil, "version")
	if code != 0 || !strings.HasPrefix(out, "syncd ") {
		t.Errorf("version: %d %q", code, out)
	}
	code, out = syncdRun(context.Background(), nil, "help")
	for _, cmd := range []string{"run", "migrate", "status", "reset", "version"} {
		if code != 0 || !strings.Contains(out, "  "+cmd) {
			t.Errorf("help does not list %s: %q", cmd, out)
		}
	}
	code, out = syncdRun(context.Background(), nil, "run", "-h")
	if code != 0 || !strings.Contains(out, "SYNCD_MAX_BATCH_BYTES") || !strings.Contains(out, "-once") {
		t.Errorf("run -h: %d %q", code, out)
	}
}
