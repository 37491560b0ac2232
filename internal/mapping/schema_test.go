package mapping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/table"
)

const userSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "lastSeen": {"type": "string", "format": "date-time"},
    "age": {"type": "integer"}
  },
  "required": ["name"]
}`

// schemaDir writes files into a temporary folder and returns the path of
// its config file name.
func schemaDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "syncd.yaml")
}

func TestSchemaColumns(t *testing.T) {
	t.Parallel()
	yml := `types:
  user:
    schema: schemas/user.json
    columns: from_schema
  member:
    schema: schemas/user.json
    columns:
      from_schema: true
      age: {path: age, type: text, index: true}
      nick: {path: nick, type: text}
  plain:
    schema: schemas/user.json
`
	path := schemaDir(t, map[string]string{"syncd.yaml": yml, "schemas/user.json": userSchema})
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]table.Column{}
	for _, tm := range f.Types {
		got[tm.Type] = tm.Columns
	}
	if want := "[{age age bigint false} {last_seen lastSeen timestamptz false} {name name text false}]"; fmtCols(got["user"]) != want {
		t.Errorf("user columns %s, want %s", fmtCols(got["user"]), want)
	}
	if want := "[{last_seen lastSeen timestamptz false} {name name text false} {age age text true} {nick nick text false}]"; fmtCols(got["member"]) != want {
		t.Errorf("member columns %s, want %s (hand-declared override derived)", fmtCols(got["member"]), want)
	}
	if len(got["plain"]) != 0 {
		t.Errorf("plain has columns %v without from_schema", got["plain"])
	}
	for _, typ := range []string{"user", "member", "plain"} {
		s, ok := f.Schemas[typ]
		if !ok || s.Validator == nil {
			t.Fatalf("no schema for %s", typ)
		}
		if r := s.Validator.Validate([]byte(`{"name":"Ada","age":"x"}`)); !strings.Contains(r, "/age") {
			t.Errorf("%s: reason %q", typ, r)
		}
	}
}

func fmtCols(cs []table.Column) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, "{"+c.Name+" "+c.Path+" "+string(c.Type)+" "+map[bool]string{true: "true", false: "false"}[c.Index]+"}")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestSchemaErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		yml   string
		files map[string]string
		want  []string
	}{
		{"missing file", "types:\n  user:\n    schema: schemas/nope.json\n", nil, []string{"types.user (line 2)", "schemas/nope.json", "no such file"}},
		{"broken JSON", "types:\n  user:\n    schema: user.json\n", map[string]string{"user.json": `{"type":`}, []string{"types.user", "user.json: not JSON"}},
		{"does not compile", "types:\n  user:\n    schema: user.json\n", map[string]string{"user.json": `{"type": "strng"}`}, []string{"types.user", "user.json does not compile"}},
		{"from_schema without schema", "types:\n  user:\n    columns: from_schema\n", nil, []string{"types.user", "from_schema needs a schema"}},
		{"columns scalar", "types:\n  user:\n    schema: user.json\n    columns: all\n", map[string]string{"user.json": userSchema}, []string{`"all" is not from_schema`}},
		{"unknown column field", "types:\n  user:\n    columns:\n      a: {path: a, type: text, idx: true}\n", nil, []string{`types.user.columns.a (line 4): unknown field "idx" (want path, type, index)`}},
		{"from_schema not bool", "types:\n  user:\n    schema: user.json\n    columns:\n      from_schema: {path: a, type: text}\n", map[string]string{"user.json": userSchema}, []string{"from_schema must be true or false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"syncd.yaml": c.yml}
			for k, v := range c.files {
				files[k] = v
			}
			path := schemaDir(t, files)
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range append(c.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
