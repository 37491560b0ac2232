// Package mapping reads the SYNCD_CONFIG file: the streams to follow with
// their own settings, and how each entity type becomes a table (explicit
// name, key scope, typed columns and indexes). It only parses and validates;
// cmd/syncd merges it with the environment and hands the types to the sink.
//
//	streams:
//	  - name: room-1                     # optional: defaults to the URL's path, as in SYNCD_STREAMS
//	    url: http://localhost:4437/v1/stream/room-1
//	    on_invalid: halt                 # optional: dead-letter or halt
//	    types: [message]                 # optional allowlist
//	types:
//	  message:
//	    table: messages                  # optional: default is the type's default table name
//	    key_scope: stream                # optional: global (default) or stream
//	    columns:
//	      author:  {path: author.id, type: text, index: true}
//	      sent_at: {path: sentAt, type: timestamptz}
//	    history: true                    # optional: every change also goes to <table>_history
//	    history_retention: 720h          # optional: prune history rows older than this
//	    deletes: soft                    # optional: hard (default) or soft (keep rows with deleted_at)
package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/syncd-io/syncd/internal/table"
)

// File is a parsed and validated SYNCD_CONFIG file.
type File struct {
	Path    string
	Streams []Stream
	Types   []table.TypeMapping // ordered by type
	Schemas map[string]Schema   // by type: the types with a schema file (see schema.go)
}

// Stream is one item of the file's streams list.
type Stream struct {
	Name      string // "" when the file leaves it to the URL
	URL       string
	OnInvalid string   // "", "dead-letter" or "halt"
	Types     []string // the stream's allowlist; empty allows every type
	Line      int      // where the item starts in the file, for messages
}

// Load reads and validates the file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SYNCD_CONFIG=%q is not valid: %w: want a readable YAML file, e.g. syncd.yaml", path, err)
	}
	return Parse(path, data)
}

// fileSpec is the file's YAML shape; unknown fields are errors.
type fileSpec struct {
	Streams []streamSpec        `yaml:"streams"`
	Types   map[string]typeSpec `yaml:"types"`
}

type streamSpec struct {
	Name      string   `yaml:"name"`
	URL       string   `yaml:"url"`
	OnInvalid string   `yaml:"on_invalid"`
	Types     []string `yaml:"types"`
}

type typeSpec struct {
	Table    string      `yaml:"table"`
	KeyScope string      `yaml:"key_scope"`
	Columns  columnsSpec `yaml:"columns"`
	Schema   string      `yaml:"schema"`
	// The options below keep their nodes, so that a bad value names its
	// own line.
	History          yaml.Node `yaml:"history"`
	HistoryRetention yaml.Node `yaml:"history_retention"`
	Deletes          yaml.Node `yaml:"deletes"`
}

type columnSpec struct {
	Path  string `yaml:"path"`
	Type  string `yaml:"type"`
	Index bool   `yaml:"index"`
}

// layout is what the typed decoding loses and messages need: where each
// stream and type starts, and the file's order of each type's columns
// (the order in which they are added to a table).
type layout struct {
	streamLines []int
	typeLines   map[string]int
	columns     map[string][]string // type → column names in file order
	columnLines map[string]int      // type + "\x00" + column → line
}

func readLayout(data []byte) layout {
	l := layout{typeLines: map[string]int{}, columns: map[string][]string{}, columnLines: map[string]int{}}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return l
	}
	top := root.Content[0]
	if streams := child(top, "streams"); streams != nil {
		for _, item := range streams.Content {
			l.streamLines = append(l.streamLines, item.Line)
		}
	}
	types := child(top, "types")
	if types == nil || types.Kind != yaml.MappingNode {
		return l
	}
	for i := 0; i+1 < len(types.Content); i += 2 {
		typ := types.Content[i].Value
		l.typeLines[typ] = types.Content[i].Line
		cols := child(types.Content[i+1], "columns")
		if cols == nil || cols.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(cols.Content); j += 2 {
			name := cols.Content[j].Value
			l.columns[typ] = append(l.columns[typ], name)
			l.columnLines[typ+"\x00"+name] = cols.Content[j].Line
		}
	}
	return l
}

// child returns the value of key in a mapping node, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Parse validates the file's content; every error names the file, the
// stream or type, and the field at fault.
func Parse(path string, data []byte) (*File, error) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil {
		if err := unknownField(&root); err != nil {
			return nil, fmt.Errorf("SYNCD_CONFIG file %s: %w", path, err)
		}
	}
	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("SYNCD_CONFIG file %s: %w", path, err)
	}
	l := readLayout(data)
	f := &File{Path: path}
	var errs []error
	for i, s := range spec.Streams {
		st, err := s.validate()
		st.Line = at(l.streamLines, i)
		if err != nil {
			errs = append(errs, fmt.Errorf("SYNCD_CONFIG file %s: streams[%d] (line %d): %w", path, i, st.Line, err))
			continue
		}
		f.Streams = append(f.Streams, st)
	}
	for _, typ := range slices.Sorted(maps.Keys(spec.Types)) {
		tm, err := spec.Types[typ].mapping(typ, l)
		if err == nil {
			tm, err = f.addSchema(spec.Types[typ], tm)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("SYNCD_CONFIG file %s: types.%s (line %d): %w", path, quoteKey(typ), l.typeLines[typ], err))
			continue
		}
		f.Types = append(f.Types, tm)
	}
	if len(errs) == 0 {
		if err := (table.Mapping{Types: f.Types}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("SYNCD_CONFIG file %s: %w", path, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func (s streamSpec) validate() (Stream, error) {
	var errs []error
	if strings.TrimSpace(s.URL) == "" {
		errs = append(errs, errors.New("url: is required"))
	}
	if s.OnInvalid != "" && s.OnInvalid != "dead-letter" && s.OnInvalid != "halt" {
		errs = append(errs, fmt.Errorf("on_invalid: %q is not dead-letter or halt", s.OnInvalid))
	}
	for _, t := range s.Types {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, errors.New("types: a type name is empty"))
			break
		}
	}
	if strings.ContainsAny(s.Name, ",=") {
		errs = append(errs, fmt.Errorf("name: %q may not contain ',' or '=' (slashes are fine, as in team/chat)", s.Name))
	}
	return Stream{Name: s.Name, URL: s.URL, OnInvalid: s.OnInvalid, Types: s.Types}, errors.Join(errs...)
}

func (t typeSpec) mapping(typ string, l layout) (table.TypeMapping, error) {
	tm := table.TypeMapping{Type: typ, Table: t.Table, KeyScope: table.KeyScope(t.KeyScope)}
	if err := t.options(&tm); err != nil {
		return tm, err
	}
	names := slices.DeleteFunc(slices.Clone(l.columns[typ]), isFromSchemaKey)
	if len(names) != len(t.Columns.ByName) { // unreachable unless the layout failed to parse
		names = slices.Sorted(maps.Keys(t.Columns.ByName))
	}
	for _, name := range names {
		c := t.Columns.ByName[name]
		tm.Columns = append(tm.Columns, table.Column{Name: name, Path: c.Path, Type: table.ColumnType(c.Type), Index: c.Index})
	}
	err := tm.Validate()
	if err != nil {
		// Point at the column's own line: the type's line is far from a
		// long column list.
		for _, name := range names {
			if line := l.columnLines[typ+"\x00"+name]; line > 0 && strings.Contains(err.Error(), fmt.Sprintf("column %q", name)) {
				return tm, fmt.Errorf("%w (column %q is at line %d)", err, name, line)
			}
		}
	}
	return tm, err
}

// options reads history, history_retention and deletes into tm; an error
// names the field and its line.
func (t typeSpec) options(tm *table.TypeMapping) error {
	bad := func(n *yaml.Node, field, format string, args ...any) error {
		return fmt.Errorf("%s (line %d): "+format, append([]any{field, n.Line}, args...)...)
	}
	if n := &t.History; n.Kind != 0 {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return bad(n, "history", "%q is not true or false", n.Value)
		}
		tm.History = n.Value == "true"
	}
	if n := &t.Deletes; n.Kind != 0 {
		mode := table.DeleteMode(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || (mode != table.DeletesHard && mode != table.DeletesSoft) {
			return bad(n, "deletes", "%q is not hard or soft", n.Value)
		}
		tm.Deletes = mode
	}
	if n := &t.HistoryRetention; n.Kind != 0 {
		d, err := time.ParseDuration(n.Value)
		switch {
		case n.Kind != yaml.ScalarNode || err != nil:
			return bad(n, "history_retention", "%q is not a duration such as 720h", n.Value)
		case d <= 0:
			return bad(n, "history_retention", "%q is not a positive duration", n.Value)
		case !tm.History:
			return bad(n, "history_retention", "set without history: true")
		}
		tm.HistoryRetention = d
	}
	return nil
}

func at(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}

// quoteKey shows a type name as it would be written as a YAML key.
func quoteKey(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return s
	}
	return fmt.Sprintf("%q", s)
}
