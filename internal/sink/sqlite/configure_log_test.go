package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/table"
)

// TestConfigureLogsOnlyWhatCommitted: a mapping whose second type fails
// rolls back the first type's new table too, and logs no "created entity
// table" for it; the same mapping once fixed logs it.
func TestConfigureLogsOnlyWhatCommitted(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	s, err := New(ctx, filepath.Join(t.TempDir(), "s.db"), slog.New(slog.NewTextHandler(&out, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE taken (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	m := table.Mapping{Types: []table.TypeMapping{{Type: "a", Table: "a_rows"}, {Type: "b", Table: "taken"}}}
	if err := s.Configure(ctx, m); err == nil {
		t.Fatal("Configure took a table name that another table holds")
	}
	if strings.Contains(out.String(), "created entity table") {
		t.Errorf("a rolled-back table was logged as created:\n%s", out.String())
	}
	m.Types[1].Table = "b_rows"
	if err := s.Configure(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "created entity table"); n != 2 {
		t.Errorf("%d 'created entity table' lines after the commit, want 2:\n%s", n, out.String())
	}
}
