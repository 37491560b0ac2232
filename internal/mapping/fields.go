package mapping

import (
	"fmt"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// unknownField returns an error naming the first key of the document that
// no field of the file's format takes: where it is (the path of keys and
// its line) and which fields are accepted there, e.g.
// types.user.columns.status (line 4): unknown field "idx" (want path, type, index).
// The accepted fields are read from the spec types' yaml tags, so the
// message follows the format as it grows.
func unknownField(root *yaml.Node) error {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	return walkFields(root, reflect.TypeFor[fileSpec](), "")
}

func walkFields(n *yaml.Node, t reflect.Type, path string) error {
	switch {
	case t == reflect.TypeFor[yaml.Node]():
		// A field kept as a node checks its own value (see typeSpec.options).
	case t == reflect.TypeFor[columnsSpec]():
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != fromSchemaKey {
				if err := walkFields(n.Content[i+1], reflect.TypeFor[columnSpec](), join(path, k)); err != nil {
					return err
				}
			}
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields, names := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			ft, ok := fields[key.Value]
			if !ok {
				where := path
				if where == "" {
					where = "top level"
				}
				return fmt.Errorf("%s (line %d): unknown field %q (want %s)", where, key.Line, key.Value, strings.Join(names, ", "))
			}
			if err := walkFields(n.Content[i+1], ft, join(path, key.Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			if err := walkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := walkFields(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps a struct's yaml names to their types, with the names in
// declaration order.
func yamlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

// join appends a key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
