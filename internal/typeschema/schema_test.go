package typeschema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/table"
)

const validMessage = `{"id":"m-1042","roomId":"general","author":{"id":"u-7","name":"Ada"},"text":"Shipping the schema validation today, reviews welcome","sentAt":"2025-06-01T12:34:56.789Z","edited":false,"likes":3,"tags":["release","go"]}`

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, draft := range []string{"2020", "07"} {
		v, err := Compile(filepath.Join("testdata", "message-"+draft+".json"))
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name  string
			value string
			want  []string // substrings of the reason; none: valid
		}{
			{"valid", validMessage, nil},
			{"valid minimal", `{"id":"m","author":{"id":"u"},"text":"","sentAt":"2025-06-01T12:00:00Z","score":null}`, nil},
			{"wrong type", `{"id":7,"author":{"id":"u"},"text":"hi","sentAt":"2025-06-01T12:00:00Z"}`, []string{"at /id:", "got number, want string"}},
			{"nested wrong type", `{"id":"m","author":{"id":true},"text":"hi","sentAt":"2025-06-01T12:00:00Z"}`, []string{"at /author/id:", "want string"}},
			{"missing required", `{"id":"m","author":{"id":"u"},"sentAt":"2025-06-01T12:00:00Z"}`, []string{"at '':", "missing property 'text'"}},
			{"format", `{"id":"m","author":{"id":"u"},"text":"hi","sentAt":"yesterday"}`, []string{"at /sentAt:", "date-time"}},
			{"additional property", `{"id":"m","author":{"id":"u"},"text":"hi","sentAt":"2025-06-01T12:00:00Z","color":"red"}`, []string{"at '':", "additional properties 'color' not allowed"}},
			{"not an object", `"hello"`, []string{"got string, want object"}},
			{"null", `null`, []string{"got null, want object"}},
			{"not JSON", `{"id":`, []string{"value is not JSON"}},
		}
		for _, c := range cases {
			t.Run(draft+"/"+c.name, func(t *testing.T) {
				got := v.Validate([]byte(c.value))
				if c.want == nil {
					if got != "" {
						t.Fatalf("valid value rejected: %s", got)
					}
					return
				}
				if !strings.HasPrefix(got, "schema testdata/message-"+draft+".json: ") {
					t.Errorf("reason %q does not name the schema file", got)
				}
				for _, w := range c.want {
					if !strings.Contains(got, w) {
						t.Errorf("reason %q lacks %q", got, w)
					}
				}
			})
		}
	}
}

func TestReasonIsBounded(t *testing.T) {
	t.Parallel()
	v, err := Compile(filepath.Join("testdata", "message-2020.json"))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 400)
	got := v.Validate([]byte(`{"id":1,"author":{"id":"u"},"text":"","sentAt":"2025-06-01T12:00:00Z","` + long + `":1}`))
	if len(got) > MaxReason {
		t.Fatalf("reason is %d bytes: %s", len(got), got)
	}
	if !strings.Contains(got, "at /id:") {
		t.Fatalf("reason %q lacks the first error", got)
	}
	if !strings.HasSuffix(got, "…") {
		t.Fatalf("a cut reason should end with …: %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.json"), "no such file"},
		{"not JSON", write("broken.json", `{"type": "object",`), "not JSON"},
		{"bad keyword value", write("badtype.json", `{"type": 5}`), "does not compile"},
		{"unknown draft", write("draft.json", `{"$schema": "https://example.com/my-draft", "type": "object"}`), "does not compile"},
		{"bad ref", write("ref.json", `{"properties": {"a": {"$ref": "#/$defs/missing"}}}`), "does not compile"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.path)
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q should name %s and say %q", err, c.path, c.want)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	t.Parallel()
	for _, draft := range []string{"2020", "07"} {
		v, err := Compile(filepath.Join("testdata", "message-"+draft+".json"))
		if err != nil {
			t.Fatal(err)
		}
		cols, skipped := v.Columns()
		want := []table.Column{
			{Name: "author", Path: "author", Type: table.JSONB},
			{Name: "edited", Path: "edited", Type: table.Boolean},
			{Name: "id", Path: "id", Type: table.Text},
			{Name: "likes", Path: "likes", Type: table.BigInt},
			{Name: "room_id", Path: "roomId", Type: table.Text},
			{Name: "score", Path: "score", Type: table.Double},
			{Name: "sent_at", Path: "sentAt", Type: table.Timestamptz},
			{Name: "tags", Path: "tags", Type: table.JSONB},
			{Name: "text", Path: "text", Type: table.Text},
		}
		if len(cols) != len(want) {
			t.Fatalf("draft %s: columns %+v, want %+v", draft, cols, want)
		}
		for i := range want {
			if cols[i] != want[i] {
				t.Errorf("draft %s: column %d is %+v, want %+v", draft, i, cols[i], want[i])
			}
		}
		var names []string
		for _, s := range skipped {
			names = append(names, s.Property)
		}
		if strings.Join(names, ",") != "any,reply-to,value" {
			t.Errorf("draft %s: skipped %+v", draft, skipped)
		}
	}
}

func TestSnakeCase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"status": "status", "sentAt": "sent_at", "userID": "user_id", "HTTPServer": "http_server",
		"last_seen": "last_seen", "v2Name": "v2_name", "A": "a",
	} {
		if got := SnakeCase(in); got != want {
			t.Errorf("SnakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRelativeRef(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"defs/author.json": `{"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}`,
		"message.json":     `{"type": "object", "properties": {"author": {"$ref": "defs/author.json"}}}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v, err := Compile(filepath.Join(dir, "message.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r := v.Validate([]byte(`{"author": {"id": "u"}}`)); r != "" {
		t.Errorf("valid: %s", r)
	}
	if r := v.Validate([]byte(`{"author": {}}`)); !strings.Contains(r, "at /author: missing property 'id'") {
		t.Errorf("invalid: %q", r)
	}
}
