package mapping

import (
	"fmt"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"

	"github.com/syncd-io/syncd/internal/table"
	"github.com/syncd-io/syncd/internal/typeschema"
)

// Per-type JSON Schema validation (State Protocol §7) and columns derived
// from the schema:
//
//	types:
//	  message:
//	    schema: schemas/message.json   # relative to the config file's folder
//	    columns: from_schema           # one column per scalar top-level property
//	  user:
//	    schema: schemas/user.json
//	    columns:
//	      from_schema: true            # derive, then override or add by hand:
//	      name: {path: profile.name, type: text, index: true}

// Schema is an entity type's compiled schema file.
type Schema struct {
	Validator *typeschema.Validator
	// FromSchema says the type's columns were derived from the schema;
	// Skipped lists the top-level properties that got no column, and why.
	FromSchema bool
	Skipped    []typeschema.Skipped
}

// fromSchemaKey is the value of columns (or, in a column map, a key set to
// true) that derives the columns from the type's schema.
const fromSchemaKey = "from_schema"

func isFromSchemaKey(name string) bool { return name == fromSchemaKey }

// columnsSpec is a type's columns: from_schema, or a map of columns that
// may hold from_schema: true.
type columnsSpec struct {
	FromSchema bool
	ByName     map[string]columnSpec
}

// UnmarshalYAML accepts the two forms. Unknown fields of a column are
// errors, as everywhere else in the file.
func (c *columnsSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		if n.Value != fromSchemaKey {
			return fmt.Errorf("line %d: columns: %q is not from_schema or a map of column name to {path, type, index}", n.Line, n.Value)
		}
		c.FromSchema = true
		return nil
	case yaml.MappingNode:
	default:
		return fmt.Errorf("line %d: columns: expected from_schema or a map of column name to {path, type, index}", n.Line)
	}
	c.ByName = map[string]columnSpec{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Value == fromSchemaKey {
			if val.Kind != yaml.ScalarNode || val.Decode(&c.FromSchema) != nil {
				return fmt.Errorf("line %d: columns: from_schema must be true or false (the name is reserved for deriving columns from the schema)", key.Line)
			}
			continue
		}
		var cs columnSpec
		if err := val.Decode(&cs); err != nil {
			return err
		}
		c.ByName[key.Value] = cs
	}
	return nil
}

// addSchema compiles the type's schema file (relative to the config file's
// folder) and, with from_schema, adds the derived columns that the type
// does not declare by hand.
func (f *File) addSchema(t typeSpec, tm table.TypeMapping) (table.TypeMapping, error) {
	if t.Schema == "" {
		if t.Columns.FromSchema {
			return tm, fmt.Errorf("columns: from_schema needs a schema: file")
		}
		return tm, nil
	}
	path := t.Schema
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(f.Path), path)
	}
	v, err := typeschema.CompileNamed(path, t.Schema)
	if err != nil {
		return tm, err
	}
	s := Schema{Validator: v, FromSchema: t.Columns.FromSchema}
	if s.FromSchema {
		var derived []table.Column
		derived, s.Skipped = v.Columns()
		declared := map[string]bool{}
		for _, c := range tm.Columns {
			declared[c.Name] = true
		}
		var cols []table.Column
		for _, c := range derived {
			if !declared[c.Name] {
				cols = append(cols, c)
			}
		}
		tm.Columns = append(cols, tm.Columns...)
		if err := tm.Validate(); err != nil {
			return tm, fmt.Errorf("columns derived from schema %s: %w", path, err)
		}
	}
	if f.Schemas == nil {
		f.Schemas = map[string]Schema{}
	}
	f.Schemas[tm.Type] = s
	return tm, nil
}
