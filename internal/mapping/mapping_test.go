package mapping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/table"
)

const example = `
streams:
  - name: room-1
    url: http://localhost:4437/v1/stream/room-1
    on_invalid: halt
    types: [message]
  - url: http://localhost:4437/v1/stream/presence
types:
  message:
    table: messages
    key_scope: stream
    columns:
      sent_at: {path: sentAt, type: timestamptz, index: true}
      author:  {path: author.id, type: text}
      first:   {path: "tags[0]", type: jsonb}
  flag:
    columns: {}
`

func TestParse(t *testing.T) {
	t.Parallel()
	f, err := Parse("cfg.yaml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Streams) != 2 || f.Streams[0].Name != "room-1" || f.Streams[0].OnInvalid != "halt" ||
		strings.Join(f.Streams[0].Types, ",") != "message" || f.Streams[1].Name != "" || f.Streams[1].Line != 7 {
		t.Fatalf("streams = %+v", f.Streams)
	}
	if len(f.Types) != 2 || f.Types[0].Type != "flag" || f.Types[1].Type != "message" {
		t.Fatalf("types = %+v", f.Types)
	}
	m := f.Types[1]
	if m.Table != "messages" || m.KeyScope != table.ScopeStream || len(m.Columns) != 3 {
		t.Fatalf("message = %+v", m)
	}
	// File order, not alphabetical.
	want := []table.Column{
		{Name: "sent_at", Path: "sentAt", Type: table.Timestamptz, Index: true},
		{Name: "author", Path: "author.id", Type: table.Text},
		{Name: "first", Path: "tags[0]", Type: table.JSONB},
	}
	for i, c := range want {
		if m.Columns[i] != c {
			t.Errorf("column %d = %+v, want %+v", i, m.Columns[i], c)
		}
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "# nothing\n", "streams: []\ntypes: {}\n"} {
		f, err := Parse("c.yaml", []byte(s))
		if err != nil || len(f.Streams) != 0 || len(f.Types) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", s, f, err)
		}
	}
}

// TestParseErrors: each error names the file, the stream or type, and the field.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "types:\n  a:\n    colums: {}\n", []string{"c.yaml", "colums"}},
		{"unknown column field", "types:\n  user:\n    columns:\n      status: {path: s, type: text, idx: true}\n",
			[]string{"c.yaml", `types.user.columns.status (line 4): unknown field "idx" (want path, type, index)`}},
		{"unknown stream field", "streams:\n  - url: http://h/v1/stream/a\n    typo: 1\n",
			[]string{`streams[0] (line 3): unknown field "typo" (want name, url, on_invalid, types)`}},
		{"unknown top-level field", "stream: []\n", []string{`top level (line 1): unknown field "stream" (want streams, types)`}},
		{"unknown column field", "types:\n  a:\n    columns:\n      x: {path: x, type: text, indexed: true}\n", []string{"c.yaml", "indexed"}},
		{"bad type", "types:\n  msg:\n    columns:\n      x: {path: x, type: integer}\n", []string{"c.yaml", "types.msg (line 2)", `column "x"`, "type", "line 4"}},
		{"bad path", "types:\n  msg:\n    columns:\n      x: {path: \"a'); DROP TABLE t; --\", type: text}\n", []string{"types.msg", `column "x"`, "path"}},
		{"quoted table", "types:\n  msg:\n    table: 'x\"; DROP TABLE syncd_types; --'\n", []string{"types.msg", "table"}},
		{"reserved table", "types:\n  msg:\n    table: syncd_types\n", []string{"types.msg", "table", "reserves"}},
		{"bad scope", "types:\n  msg:\n    key_scope: tenant\n", []string{"types.msg", "key_scope", "tenant"}},
		{"shared table", "types:\n  a:\n    table: t\n  b:\n    table: t\n", []string{"c.yaml", `table "t"`}},
		{"base column", "types:\n  a:\n    columns:\n      value: {path: v, type: text}\n", []string{`column "value"`}},
		{"stream without url", "streams:\n  - name: x\n", []string{"streams[0] (line 2)", "url"}},
		{"bad on_invalid", "streams:\n  - url: http://h/s\n    on_invalid: ignore\n", []string{"streams[0]", "on_invalid", "ignore"}},
		{"not yaml", "streams: [\n", []string{"c.yaml"}},
		{"columns not a map", "types:\n  a:\n    columns: [x]\n", []string{"c.yaml"}},
	}
	for _, tt := range tests {
		_, err := Parse("c.yaml", []byte(tt.yaml))
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tt.name, err, w)
			}
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "syncd.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := Load(path); err != nil || f.Path != path {
		t.Fatalf("Load: %+v, %v", f, err)
	}
	if _, err := Load(path + ".missing"); err == nil || !strings.Contains(err.Error(), "SYNCD_CONFIG") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}
