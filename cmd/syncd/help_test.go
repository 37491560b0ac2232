package main

import (
	"context"
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
