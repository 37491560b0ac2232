package typeschema

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/syncd-io/syncd/internal/table"
)

// Skipped is a top-level property that Columns could not turn into a column.
type Skipped struct {
	Property string
	Why      string
}

// Columns derives a generated column from each top-level property of the
// schema whose type is a single JSON type ("null" besides it is allowed:
// the column is then NULL too): string → text, or timestamptz with "format":
// "date-time"; integer → bigint; number → double; boolean → boolean; object
// and array → jsonb. The column is named after the property in snake_case
// (sentAt → sent_at) and reads the property's path. Columns are ordered by
// property name; properties that cannot become a column (several types, a
// name that is not a plain identifier or that a table already has) are
// returned as skipped, so the caller can say so.
func (v *Validator) Columns() ([]table.Column, []Skipped) {
	var cols []table.Column
	var skipped []Skipped
	props := v.schema.Properties
	for _, name := range slices.Sorted(maps.Keys(props)) {
		c, why := column(name, props[name])
		if why != "" {
			skipped = append(skipped, Skipped{Property: name, Why: why})
			continue
		}
		cols = append(cols, c)
	}
	return cols, skipped
}

func column(prop string, s *jsonschema.Schema) (table.Column, string) {
	if _, err := table.ParsePath(prop); err != nil || strings.ContainsAny(prop, ".[") {
		return table.Column{}, "its name is not a plain identifier; declare a column for it by hand"
	}
	name := SnakeCase(prop)
	c := table.Column{Name: name, Path: prop}
	if err := (table.TypeMapping{Type: "x", Columns: []table.Column{{Name: name, Path: prop, Type: table.Text}}}).Validate(); err != nil {
		return table.Column{}, fmt.Sprintf("column %q is not allowed; declare a column for it by hand", name)
	}
	for s.Types == nil && s.Ref != nil { // follow "$ref" to the definition
		s = s.Ref
	}
	if s.Types == nil {
		return table.Column{}, "it has no \"type\""
	}
	var types []string
	for _, t := range s.Types.ToStrings() {
		if t != "null" {
			types = append(types, t)
		}
	}
	if len(types) != 1 {
		return table.Column{}, fmt.Sprintf("its type %v is not a single type", s.Types.ToStrings())
	}
	switch types[0] {
	case "string":
		c.Type = table.Text
		if s.Format != nil && s.Format.Name == "date-time" {
			c.Type = table.Timestamptz
		}
	case "integer":
		c.Type = table.BigInt
	case "number":
		c.Type = table.Double
	case "boolean":
		c.Type = table.Boolean
	case "object", "array":
		c.Type = table.JSONB
	}
	return c, ""
}

// SnakeCase turns a property name into a column name: lower case, with '_'
// where a lower-case letter or digit meets an upper-case one and before the
// last capital of an acronym that starts a word (userID → user_id,
// HTTPServer → http_server).
func SnakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
