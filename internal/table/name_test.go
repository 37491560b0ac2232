package table

import (
	"strings"
	"testing"
)

func TestDefaultName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200)
	tests := []struct {
		typ, want string
	}{
		{"user", "user"},
		{"User", "user"},
		{"select", "select"},
		{`we"ird`, "we_ird"},
		{"1st", "t_1st"},
		{"a;drop table x", "a_drop_table_x"},
		{"café", "caf_"},
		{"日本", "__"},
		{"syncd_checkpoints", "syncd_checkpoints"},
		{long, long[:63]},
		{"", ""},
	}
	for _, tt := range tests {
		if got := DefaultName(tt.typ); got != tt.want {
			t.Errorf("DefaultName(%q) = %q, want %q", tt.typ, got, tt.want)
		}
	}
}

func TestReserved(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"": true, "syncd_checkpoints": true, "syncd_x": true, "sqlite_master": true,
		"user": false, "syncd": false, "t_1st": false,
	} {
		if got := Reserved(name); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCandidateNames(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"User", "syncd_checkpoints", "sqlite_master", strings.Repeat("é", 100), ""} {
		names := CandidateNames(typ)
		if len(names) < 2 {
			t.Fatalf("CandidateNames(%q) = %q: want a suffixed fallback", typ, names)
		}
		seen := map[string]bool{}
		for _, n := range names {
			if len(n) > MaxName || n == "" || strings.HasPrefix(n, "sqlite_") || seen[n] {
				t.Errorf("CandidateNames(%q): bad name %q in %q", typ, n, names)
			}
			if strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
				t.Errorf("CandidateNames(%q): %q has characters outside [a-z0-9_]", typ, n)
			}
			seen[n] = true
		}
		if again := CandidateNames(typ); strings.Join(again, ",") != strings.Join(names, ",") {
			t.Errorf("CandidateNames(%q) is not deterministic", typ)
		}
	}
	if got := CandidateNames("syncd_checkpoints")[0]; !strings.HasPrefix(got, "syncd_checkpoints_") || len(got) != len("syncd_checkpoints_")+8 {
		t.Errorf("syncd_checkpoints gets %q, want syncd_checkpoints_ + 8 hex digits", got)
	}
}
