package main

import (
	"context"
	"debug/buildinfo"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCommandHelpListsItsFlags: a command that only touches the database
// lists only the flags it uses; run lists every variable's flag.
func TestCommandHelpListsItsFlags(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for f := range reflect.TypeFor[Config]().Fields() {
		if name := f.Tag.Get("env"); name != "" {
			known[name] = true
		}
	}
	for cmd, vars := range commandVariables {
		for _, v := range vars {
			if !known[v] {
				t.Errorf("commandVariables[%s] names %s, which Config does not read", cmd, v)
			}
		}
	}
	_, out := syncdRun(context.Background(), nil, "reset", "-h")
	for _, want := range []string{"-database-url", "-schema", "-start-offset"} {
		if !strings.Contains(out, want) {
			t.Errorf("reset -h lacks %s:\n%s", want, out)
		}
	}
	for _, unused := range []string{"-streams", "-live", "-leases", "-max-batch-bytes", "-http-addr"} {
		if strings.Contains(out, unused+" ") {
			t.Errorf("reset -h lists %s, which reset does not use:\n%s", unused, out)
		}
	}
	if _, out := syncdRun(context.Background(), nil, "run", "-h"); !strings.Contains(out, "-streams") || !strings.Contains(out, "-leases") {
		t.Errorf("run -h does not list every variable's flag:\n%s", out)
	}
}

// TestMappingConflictIsAConfigError: a mapped column whose name a column
// syncd did not create already holds is a configuration error (exit 2)
// that names the column, not a database failure (exit 1).
func TestMappingConflictIsAConfigError(t *testing.T) {
	t.Parallel()
	b := sqliteBackend(t)
	cfg := filepath.Join(t.TempDir(), "syncd.yaml")
	if err := os.WriteFile(cfg, []byte("types:\n  user:\n    columns:\n      status: {path: status, type: text}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := syncdRun(t.Context(), b.env(), "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, out)
	}
	db := b.open(t)
	for _, q := range []string{`CREATE TABLE "user" (key TEXT PRIMARY KEY, status TEXT)`,
		`INSERT INTO syncd_types (type, table_name) VALUES ('user', 'user')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	code, out := syncdRun(t.Context(), b.env("SYNCD_CONFIG="+cfg), "migrate")
	if code != exitUsage || !strings.Contains(out, `column "status"`) || !strings.Contains(out, "choose another column name") {
		t.Errorf("exit %d, output:\n%s\nwant exit %d naming the column", code, out, exitUsage)
	}
}

// TestReadOnlyCommandsCreateNothing: status, rejects and reset at a
// mistyped SQLite path or Postgres schema say there are no syncd tables
// there, exit non-zero, and create no file, lock or table.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{{"status"}, {"rejects"}, {"reset", "chat"}} {
		code, out := syncdRun(t.Context(), []string{"SYNCD_DATABASE_URL=sqlite:" + missing, "SYNCD_HTTP_ADDR="}, args...)
		if code == 0 || !strings.Contains(out, "no syncd tables at sqlite:"+missing+" (wrong path or database?") {
			t.Errorf("%v at a missing file: exit %d, output:\n%s", args, code, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("read-only commands left files behind: %v", entries)
	}
	// An existing file without syncd's tables (someone else's database).
	other := filepath.Join(dir, "app.db")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := syncdRun(t.Context(), []string{"SYNCD_DATABASE_URL=sqlite:" + other, "SYNCD_HTTP_ADDR="}, "status"); code == 0 || !strings.Contains(out, "no syncd tables") {
		t.Errorf("status of a file without syncd's tables: exit %d, output:\n%s", code, out)
	}
	b := postgresBackend(t)
	env := b.env()
	if code, out := syncdRun(t.Context(), env, "status"); code == 0 || !strings.Contains(out, "no syncd tables") {
		t.Errorf("status of an empty Postgres schema: exit %d, output:\n%s", code, out)
	}
	var n int
	if err := b.open(t).QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, b.schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("status created %d tables in schema %s (%v)", n, b.schema, err)
	}
}

// TestBinaryHoldsNoTestDependencies: the modules that only tests use
// (Kubernetes types and kustomize for the manifest checks, testcontainers
// and the Docker client) are not linked into syncd.
func TestBinaryHoldsNoTestDependencies(t *testing.T) {
	t.Parallel()
	info, err := buildinfo.ReadFile(syncdBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Deps {
		for _, prefix := range []string{"k8s.io/", "sigs.k8s.io/", "github.com/testcontainers/", "github.com/moby/", "github.com/docker/"} {
			if strings.HasPrefix(d.Path, prefix) {
				t.Errorf("the syncd binary links %s, which only tests need", d.Path)
			}
		}
	}
	if len(info.Deps) == 0 {
		t.Error("the binary lists no dependencies: build info missing")
	}
}
