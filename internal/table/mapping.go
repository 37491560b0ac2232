// Package table owns how an entity type becomes a SQL table, whatever the
// dialect: the mapping (names, key scope, typed columns) and its validation,
// column paths, default and fallback table names, and the plan that brings a
// table's generated columns and indexes in line with its mapping.
package table

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// KeyScope says what identifies a row of an entity table.
type KeyScope string

// The key scopes of an entity type.
const (
	// ScopeGlobal: the primary key is (key); streams writing the same key
	// share the row and the later commit wins.
	ScopeGlobal KeyScope = "global"
	// ScopeStream: the primary key is (stream, key), for apps with one
	// stream per room or tenant that reuse keys.
	ScopeStream KeyScope = "stream"
)

// ColumnType is the SQL type of a mapped column. The names are Postgres's;
// SQLite stores them with its own types (see each dialect).
type ColumnType string

// The column types a mapping may use.
const (
	Text        ColumnType = "text"
	BigInt      ColumnType = "bigint"
	Double      ColumnType = "double"
	Boolean     ColumnType = "boolean"
	Timestamptz ColumnType = "timestamptz"
	JSONB       ColumnType = "jsonb"
)

// ColumnTypes lists every ColumnType, for messages.
var ColumnTypes = []ColumnType{Text, BigInt, Double, Boolean, Timestamptz, JSONB}

// ErrConflict marks a mapping that the database's tables cannot take (a
// column or table name already taken by something syncd did not create): a
// configuration error to fix in the mapping, not a database failure.
var ErrConflict = errors.New("the mapping conflicts with the database")

// BaseColumns are the columns every entity table has; a mapped column may
// not take their names.
var BaseColumns = []string{"key", "value", "stream", "txid", "event_time", "synced_offset", "synced_at"}

// Column is a typed column that the database computes from the row's JSON
// value (a generated column): one write path, and no backfill when it is
// added to a table that already holds rows. A value at Path that does not
// convert to Type is stored as NULL, never a failed commit.
type Column struct {
	Name  string     // a lower-case SQL identifier (see CheckIdentifier)
	Path  string     // where in the value: field names, dots and [n] indexes, e.g. profile.age or tags[0]
	Type  ColumnType //
	Index bool       // create an index on the column
}

// TypeMapping is the configuration of one entity type's table.
type TypeMapping struct {
	Type string
	// Table is the table's name; "" keeps the default rule (DefaultName).
	Table string
	// KeyScope is the primary key's scope; "" means ScopeGlobal.
	KeyScope KeyScope
	Columns  []Column
	// History appends every change event of the type to its history table
	// (HistoryName of the entity table).
	History bool
	// HistoryRetention, when positive, prunes history rows older than it.
	HistoryRetention time.Duration
	// Deletes is how a delete changes the entity table; "" means DeletesHard.
	Deletes DeleteMode
}

// DeleteMode says what a delete event does to an entity table's row.
type DeleteMode string

// The delete modes of an entity type.
const (
	// DeletesHard removes the row.
	DeletesHard DeleteMode = "hard"
	// DeletesSoft keeps the row with its last value and sets DeletedAt.
	DeletesSoft DeleteMode = "soft"
)

// DeletedAt is the column a table with soft deletes gains: NULL while the
// row is live, the commit time of its delete otherwise.
const DeletedAt = "deleted_at"

// Soft reports whether the mapping keeps deleted rows as tombstones.
func (m TypeMapping) Soft() bool { return m.Deletes == DeletesSoft }

// Scope returns the mapping's key scope, ScopeGlobal when unset.
func (m TypeMapping) Scope() KeyScope {
	if m.KeyScope == "" {
		return ScopeGlobal
	}
	return m.KeyScope
}

// Mapping is what a sink is configured with (see sink.Sink.Configure).
type Mapping struct {
	Types []TypeMapping
}

// Validate checks every name and path that a sink will put into SQL, so a
// sink can trust them: table and column names are plain lower-case
// identifiers, paths parse, types and scopes are known, and no two types
// share a table.
func (m Mapping) Validate() error {
	var errs []error
	types, tables := map[string]bool{}, map[string]string{}
	for _, tm := range m.Types {
		if types[tm.Type] {
			errs = append(errs, fmt.Errorf("type %q is mapped twice", tm.Type))
			continue
		}
		types[tm.Type] = true
		if err := tm.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if tm.Table == "" {
			continue
		}
		if other, ok := tables[tm.Table]; ok {
			errs = append(errs, fmt.Errorf("type %q: table %q is also the table of type %q", tm.Type, tm.Table, other))
		}
		tables[tm.Table] = tm.Type
	}
	return errors.Join(errs...)
}

// Validate checks one type's mapping; errors name the type and the field.
func (m TypeMapping) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("type %q: "+format, append([]any{m.Type}, args...)...))
	}
	if m.Type == "" {
		errs = append(errs, errors.New("a mapped type has an empty name"))
	}
	if m.Table != "" {
		if err := CheckIdentifier(m.Table); err != nil {
			bad("table: %v", err)
		} else if Reserved(m.Table) {
			bad("table: %q starts with syncd_ or sqlite_, which syncd reserves", m.Table)
		}
	}
	if m.KeyScope != "" && m.KeyScope != ScopeGlobal && m.KeyScope != ScopeStream {
		bad("key_scope: %q is not global or stream", m.KeyScope)
	}
	if m.Deletes != "" && m.Deletes != DeletesHard && m.Deletes != DeletesSoft {
		bad("deletes: %q is not hard or soft", m.Deletes)
	}
	if m.HistoryRetention < 0 {
		bad("history_retention: %s is negative", m.HistoryRetention)
	}
	if m.HistoryRetention > 0 && !m.History {
		bad("history_retention: set without history: true")
	}
	seen := map[string]bool{}
	for _, c := range m.Columns {
		if err := c.validate(); err != nil {
			bad("column %q: %v", c.Name, err)
		}
		if seen[c.Name] {
			bad("column %q appears twice", c.Name)
		}
		seen[c.Name] = true
	}
	return errors.Join(errs...)
}

func (c Column) validate() error {
	if err := CheckIdentifier(c.Name); err != nil {
		return err
	}
	for _, b := range BaseColumns {
		if c.Name == b {
			return fmt.Errorf("%q is a column every entity table already has", c.Name)
		}
	}
	if c.Name == DeletedAt {
		return fmt.Errorf("%q is the column of soft deletes", c.Name)
	}
	if strings.HasPrefix(c.Name, "syncd_") {
		return fmt.Errorf("%q starts with syncd_, which syncd reserves", c.Name)
	}
	if _, err := ParsePath(c.Path); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	for _, t := range ColumnTypes {
		if c.Type == t {
			return nil
		}
	}
	return fmt.Errorf("type: %q is not one of text, bigint, double, boolean, timestamptz, jsonb", c.Type)
}

// CheckIdentifier accepts the table and column names a mapping may set:
// lower-case ASCII letters, digits and '_', not starting with a digit, at
// most MaxName bytes. They are still quoted wherever they are used; the
// rule keeps them the same in both dialects and in information_schema.
func CheckIdentifier(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case len(name) > MaxName:
		return fmt.Errorf("%q is longer than %d bytes", name, MaxName)
	case name[0] >= '0' && name[0] <= '9':
		return fmt.Errorf("%q starts with a digit", name)
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%q may hold only lower-case letters, digits and _", name)
		}
	}
	return nil
}

// PathElem is one step of a column's path: a field of an object, or an
// element of an array.
type PathElem struct {
	Field   string // the field name, when not an index
	Index   int    // the array index, when IsIndex
	IsIndex bool
}

// maxIndex bounds array indexes in paths.
const maxIndex = 1_000_000

// ParsePath parses a column path: fields (letters, digits, '_', not starting
// with a digit) joined by dots, each optionally followed by [n] array
// indexes; the path may also start with an index. Examples: status,
// profile.age, tags[0], [2].name. Nothing else is accepted, so a path can
// only reach SQL as these validated parts.
func ParsePath(p string) ([]PathElem, error) {
	if p == "" {
		return nil, errors.New("path is empty")
	}
	var out []PathElem
	rest := p
	expectField := !strings.HasPrefix(p, "[")
	for rest != "" {
		if expectField {
			n := identLen(rest)
			if n == 0 {
				return nil, fmt.Errorf("%q: expected a field name (letters, digits, _) at %q", p, rest)
			}
			out = append(out, PathElem{Field: rest[:n]})
			rest = rest[n:]
		}
		for strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 2 {
				return nil, fmt.Errorf("%q: expected [n] at %q", p, rest)
			}
			digits := rest[1:end]
			i, err := strconv.Atoi(digits)
			if err != nil || i < 0 || i > maxIndex || strings.Trim(digits, "0123456789") != "" {
				return nil, fmt.Errorf("%q: %q is not an array index (0 to %d)", p, rest[:end+1], maxIndex)
			}
			out = append(out, PathElem{Index: i, IsIndex: true})
			rest = rest[end+1:]
		}
		if rest == "" {
			break
		}
		if rest[0] != '.' || len(rest) == 1 {
			return nil, fmt.Errorf("%q: expected . or [n] at %q", p, rest)
		}
		rest, expectField = rest[1:], true
	}
	return out, nil
}

// identLen returns the length of the field name at the start of s.
func identLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return i
		}
	}
	return len(s)
}

// ConfigureOrder returns the mapping's types with explicit table names first,
// the order both dialects claim tables in, so that no default name takes a
// name the file asked for.
func (m Mapping) ConfigureOrder() []TypeMapping {
	out := make([]TypeMapping, 0, len(m.Types))
	for _, explicit := range []bool{true, false} {
		for _, tm := range m.Types {
			if (tm.Table != "") == explicit {
				out = append(out, tm)
			}
		}
	}
	return out
}
