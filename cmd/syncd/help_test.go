package main

import (
	"context"
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
