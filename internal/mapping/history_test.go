package mapping

import (
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/table"
)

func TestParseHistoryAndDeletes(t *testing.T) {
	t.Parallel()
	f, err := Parse("cfg.yaml", []byte(`
types:
  message:
    history: true
    history_retention: 720h
  user:
    deletes: soft
  flag:
    history: false
    deletes: hard
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]table.TypeMapping{}
	for _, tm := range f.Types {
		got[tm.Type] = tm
	}
	if m := got["message"]; !m.History || m.HistoryRetention != 720*time.Hour || m.Soft() {
		t.Errorf("message = %+v", m)
	}
	if u := got["user"]; u.History || !u.Soft() {
		t.Errorf("user = %+v", u)
	}
	if fl := got["flag"]; fl.History || fl.Soft() || fl.Deletes != table.DeletesHard {
		t.Errorf("flag = %+v", fl)
	}
}

// TestParseHistoryErrors checks that a bad value names the file, the type,
// the field and the field's line.
func TestParseHistoryErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ field, line, want string }{
		{"history", "history: yes", `history (line 4): "yes" is not true or false`},
		{"history", "history: 1", `history (line 4): "1" is not true or false`},
		{"deletes", "deletes: archive", `deletes (line 4): "archive" is not hard or soft`},
		{"deletes", "deletes: true", `deletes (line 4): "true" is not hard or soft`},
		{"history_retention", "history_retention: 30d", `history_retention (line 4): "30d" is not a duration`},
		{"history_retention", "history_retention: -1h", `history_retention (line 4): "-1h" is not a positive duration`},
		{"history_retention", "history_retention: 1h", `history_retention (line 4): set without history: true`},
	} {
		data := "\ntypes:\n  message:\n    " + c.line + "\n"
		_, err := Parse("cfg.yaml", []byte(data))
		if err == nil {
			t.Errorf("%s: accepted", c.line)
			continue
		}
		msg := err.Error()
		for _, part := range []string{"cfg.yaml", "types.message (line 3)", c.want} {
			if !strings.Contains(msg, part) {
				t.Errorf("%s: error %q does not contain %q", c.line, msg, part)
			}
		}
	}
}

// TestParseHistoryNotScalar: a map where a value belongs names the field.
func TestParseHistoryNotScalar(t *testing.T) {
	t.Parallel()
	_, err := Parse("cfg.yaml", []byte("types:\n  message:\n    history: {on: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "history (line 3)") || !strings.Contains(err.Error(), "cfg.yaml") {
		t.Fatalf("got %v, want an error naming the file and history (line 3)", err)
	}
}
