package table

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"status":      "status",
		"profile.age": "profile.age",
		"tags[0]":     "tags[0]",
		"[2].name":    "[2].name",
		"a[1][2].b_c": "a[1][2].b_c",
		"camelCase9":  "camelCase9",
	}
	for p, want := range good {
		elems, err := ParsePath(p)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", p, err)
			continue
		}
		var b strings.Builder
		for i, e := range elems {
			switch {
			case e.IsIndex:
				b.WriteString("[" + string(rune('0'+e.Index)) + "]")
			case i > 0:
				b.WriteString("." + e.Field)
			default:
				b.WriteString(e.Field)
			}
		}
		if b.String() != want {
			t.Errorf("ParsePath(%q) = %+v", p, elems)
		}
	}
	for _, p := range []string{"", ".a", "a.", "a..b", "a[", "a[]", "a[-1]", "a[+1]", "a[1x]", "a[99999999]", "1a", "a-b",
		"a b", "$.a", "a'", `a"`, "a;drop", "a[0]b", "é"} {
		if _, err := ParsePath(p); err == nil {
			t.Errorf("ParsePath(%q) accepted", p)
		}
	}
}

func TestMappingValidate(t *testing.T) {
	t.Parallel()
	ok := Mapping{Types: []TypeMapping{
		{Type: "a", Table: "t_a", KeyScope: ScopeStream, Columns: []Column{{Name: "x", Path: "x", Type: BigInt, Index: true}}},
		{Type: "b"},
	}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Mapping{
		{Types: []TypeMapping{{Type: "a"}, {Type: "a"}}},
		{Types: []TypeMapping{{Type: "a", Table: "t"}, {Type: "b", Table: "t"}}},
		{Types: []TypeMapping{{Type: ""}}},
		{Types: []TypeMapping{{Type: "a", Table: "Upper"}}},
		{Types: []TypeMapping{{Type: "a", Table: "syncd_x"}}},
		{Types: []TypeMapping{{Type: "a", Table: strings.Repeat("t", 64)}}},
		{Types: []TypeMapping{{Type: "a", Columns: []Column{{Name: "key", Path: "x", Type: Text}}}}},
		{Types: []TypeMapping{{Type: "a", Columns: []Column{{Name: "syncd_x", Path: "x", Type: Text}}}}},
		{Types: []TypeMapping{{Type: "a", Columns: []Column{{Name: "x", Path: "x", Type: "int"}}}}},
		{Types: []TypeMapping{{Type: "a", Columns: []Column{{Name: "x", Path: "x", Type: Text}, {Name: "x", Path: "y", Type: Text}}}}},
	}
	for _, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", m)
		}
	}
}

func TestPlanColumns(t *testing.T) {
	t.Parallel()
	w := func(name, def string, index bool) WantedColumn {
		return WantedColumn{Column: Column{Name: name, Index: index}, Definition: def}
	}
	have := []ExistingColumn{
		{Name: "same", Generated: true, Definition: "d1"},
		{Name: "changed", Generated: true, Definition: "old"},
		{Name: "gone", Generated: true, Definition: "d3"},
		{Name: "users", Generated: false},
		{Name: "unrecorded", Generated: true},
	}
	indexes := []string{IndexName("t", "same"), IndexName("t", "changed"), IndexName("t", "gone"), "user_index", "syncd_stream_x"}
	p, err := PlanColumns("typ", "t", []WantedColumn{w("same", "d1", true), w("changed", "new", true), w("added", "d4", false)}, have, indexes)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.DropColumns, ","); got != "changed,gone" {
		t.Errorf("DropColumns = %s", got)
	}
	if len(p.AddColumns) != 2 || p.AddColumns[0].Name != "changed" || p.AddColumns[1].Name != "added" || !p.Changed["changed"] {
		t.Errorf("AddColumns = %+v", p.AddColumns)
	}
	want := []string{IndexName("t", "changed"), IndexName("t", "gone")}
	if strings.Join(p.DropIndexes, ",") != strings.Join(sorted(want), ",") {
		t.Errorf("DropIndexes = %v, want %v", p.DropIndexes, want)
	}
	if len(p.CreateIndexes) != 1 || p.CreateIndexes[0].Name != "changed" {
		t.Errorf("CreateIndexes = %+v", p.CreateIndexes)
	}
	if _, err := PlanColumns("typ", "t", []WantedColumn{w("users", "d", false)}, have, nil); err == nil || !strings.Contains(err.Error(), `"users"`) {
		t.Errorf("a user's column: %v", err)
	}
	p, err = PlanColumns("typ", "t", []WantedColumn{w("same", "d1", true)}, have[:1], indexes[:1])
	if err != nil || !p.Empty() {
		t.Errorf("unchanged mapping: %+v %v", p, err)
	}
}

func sorted(s []string) []string {
	if len(s) == 2 && s[0] > s[1] {
		s[0], s[1] = s[1], s[0]
	}
	return s
}

func TestIndexName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("c", 63)
	if n := IndexName(long, long); len(n) > MaxName || !strings.HasPrefix(n, IndexPrefix) {
		t.Errorf("IndexName = %q", n)
	}
	if IndexName("a", "b_c") == IndexName("a_b", "c") {
		t.Error("IndexName collides")
	}
}
