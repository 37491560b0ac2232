package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// TestDiscovery runs syncd on a glob against the reference server with its
// registry enabled: streams created while it runs that match the glob and
// are JSON are synced; others (another path, one segment too deep, not JSON)
// are not; deleting a synced stream stops it and keeps its rows.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{Registry: true, LongPollTimeout: time.Second})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		prefix := "disc-" + b.name
		// A stream that matches before syncd starts, so the registry exists.
		early := prefix + "/rooms/early"
		if err := srv.Create(ctx, early); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		add := func(name string, synced bool, events ...any) {
			t.Helper()
			if _, err := srv.Append(ctx, name, events...); err != nil {
				t.Fatal(err)
			}
			if synced {
				m.apply(t, name, events...)
			}
		}
		add(early, true, change("room", prefix+"-early", "insert", map[string]any{"n": 1}))

		l := startWithOps(t, b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/"+prefix+"/rooms/*"))
		waitForLog(t, &l.out, `stream discovered`)

		matching := []string{prefix + "/rooms/a", prefix + "/rooms/b"}
		others := []string{prefix + "/lobby/c", prefix + "/rooms/a/deep"}
		for _, name := range append(matching, others...) {
			if err := srv.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		createNonJSON(t, srv, prefix+"/rooms/binary")
		for i, name := range matching {
			add(name, true, change("room", fmt.Sprintf("%s-%d", name, i), "insert", map[string]any{"n": i}),
				change("msg", name+"-m", "upsert", map[string]any{"text": "hi"}))
		}
		for _, name := range others {
			add(name, false, change("room", name+"-x", "insert", map[string]any{"never": true}))
		}
		eventually(t, 20*time.Second, "the matching streams to be synced", func() bool {
			return tablesEqual(b.tables(t), m.expected())
		})
		assertTables(t, b, m)
		for _, name := range append(others, prefix+"/rooms/binary") {
			var n int
			if err := b.open(t).QueryRow(`SELECT count(*) FROM syncd_checkpoints WHERE stream = `+b.param(), name).Scan(&n); err != nil || n != 0 {
				t.Errorf("stream %s was followed (checkpoints: %d, err %v)", name, n, err)
			}
		}
		waitForLog(t, &l.out, `skipping a matching stream that is not JSON`)

		// Deleting a stream stops its loop; its rows stay.
		gauge := fmt.Sprintf(`syncd_up_to_date{stream=%q}`, matching[1])
		if _, body := l.get(t, "/metrics"); !strings.Contains(body, gauge) {
			t.Fatalf("no %s before the delete", gauge)
		}
		if err := srv.Delete(ctx, matching[1]); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the deleted stream's loop to stop", func() bool {
			_, body := l.get(t, "/metrics")
			return !strings.Contains(body, gauge)
		})
		add(matching[0], true, change("room", "late", "insert", map[string]any{"late": true}))
		eventually(t, 10*time.Second, "the remaining stream to keep syncing", func() bool {
			return tablesEqual(b.tables(t), m.expected())
		})
		assertTables(t, b, m)
	})
}

func tablesEqual(got, want map[string]map[string]row) bool {
	for typ, keys := range got {
		if len(keys) == 0 {
			delete(got, typ)
		}
	}
	if len(got) != len(want) {
		return false
	}
	for typ, keys := range want {
		if len(got[typ]) != len(keys) {
			return false
		}
		for k, r := range keys {
			if got[typ][k] != r {
				return false
			}
		}
	}
	return true
}

func waitForLog(t *testing.T, out *syncBuffer, text string) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("%q in syncd's log", text), func() bool {
		return strings.Contains(out.String(), text)
	})
}

// createNonJSON creates a text/plain stream, which syncd must skip.
func createNonJSON(t *testing.T, srv *dstest.Server, name string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, srv.StreamURL(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %s", name, resp.Status)
	}
}
