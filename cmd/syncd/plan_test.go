package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/mapping"
)

// TestConfigReadOnce: `syncd run --once` and `syncd migrate` read and
// compile SYNCD_CONFIG (and its JSON Schema) exactly once. The loader hook
// counts the reads, and after the first one it turns the file and the
// schema into garbage, so a second read by any path — through the hook or
// around it — fails the command.
func TestConfigReadOnce(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	ctx := context.Background()
	name := "once-read"
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	events := []any{
		change("user", "alice", "insert", map[string]any{"name": "Alice", "age": 30}),
		change("user", "bob", "insert", map[string]any{"name": ""}), // invalid by the schema: a reject
	}
	if _, err := srv.Append(ctx, name, events...); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"run", "migrate"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			setting := writeSchemaConfig(t, dir, `
streams:
  - url: `+srv.StreamURL(name)+`
types:
  user:
    table: users
    schema: user.json
    columns: from_schema
`, map[string]string{"user.json": userSchema07})
			cfgPath := strings.TrimPrefix(setting, "SYNCD_CONFIG=")
			var mu sync.Mutex
			reads := 0
			load := func(path string) (*mapping.File, error) {
				f, err := mapping.Load(path)
				mu.Lock()
				defer mu.Unlock()
				reads++
				for _, p := range []string{cfgPath, filepath.Join(dir, "user.json")} {
					if werr := os.WriteFile(p, []byte("{not: [yaml or json"), 0o600); werr != nil {
						t.Error(werr)
					}
				}
				return f, err
			}
			b := &backend{name: "sqlite", url: "sqlite:" + filepath.Join(t.TempDir(), "syncd.db"), owner: t}
			args := []string{"run", "--once"}
			if cmd == "migrate" {
				args = []string{"migrate"}
			}
			var out syncBuffer
			runCtx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			env := &environment{environ: b.env("SYNCD_STREAMS=", setting), stdout: &out, stderr: &out, loadFile: load}
			if code := Main(runCtx, env, args); code != 0 {
				t.Fatalf("syncd %s exited %d:\n%s", cmd, code, out.String())
			}
			if reads != 1 {
				t.Errorf("SYNCD_CONFIG read %d times, want 1", reads)
			}
			// The compiled schema was used: the columns it derives exist,
			// and in the run the invalid user was rejected.
			got := queryStrings(t, b.open(t), `SELECT column_name FROM syncd_columns WHERE table_name = 'users' ORDER BY column_name`)
			if strings.Join(got, ",") != "age,last_seen,name" {
				t.Errorf("columns from the schema: %v", got)
			}
			if cmd == "run" {
				if _, applied, rejects, _ := b.checkpoint(t, name); applied != 1 || rejects != 1 {
					t.Errorf("events_applied=%d rejects=%d, want 1 and 1", applied, rejects)
				}
			}
		})
	}
}
