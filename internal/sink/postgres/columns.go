package postgres

import (
	"fmt"
	"strings"

	"github.com/syncd-io/syncd/internal/table"
)

// Mapped columns are STORED generated columns computed from value by safe
// conversions: a JSON value that does not convert to the column's type
// gives NULL, never an error, so it can never fail a commit. Postgres does
// not promise the order in which AND operands are evaluated, so every cast
// that could fail sits in the THEN branch of a CASE whose WHEN proves it
// cannot.

// sqlTypes are the Postgres types of the mapped column types.
var sqlTypes = map[table.ColumnType]string{
	table.Text:        "text",
	table.BigInt:      "bigint",
	table.Double:      "double precision",
	table.Boolean:     "boolean",
	table.Timestamptz: "timestamptz",
	table.JSONB:       "jsonb",
}

// jsonAt renders the JSON value at path as a chain of -> operators, e.g.
// (value -> 'profile' -> 'age') or (value -> 'tags' -> 0): a missing field,
// an index past the end or a step into a scalar gives NULL.
func jsonAt(path []table.PathElem) string {
	var b strings.Builder
	b.WriteString("(value")
	for _, e := range path {
		if e.IsIndex {
			fmt.Fprintf(&b, " -> %d", e.Index)
		} else {
			b.WriteString(" -> " + quoteLiteral(e.Field))
		}
	}
	b.WriteString(")")
	return b.String()
}

// quoteLiteral quotes a string literal (standard_conforming_strings on,
// the default since Postgres 9.1). Path fields never hold quotes; this is
// the second line of defence.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Regular expressions of the texts that convert. bigint: an integer without
// leading zeros of at most 19 digits (then range-checked); double: a JSON
// number of bounded length and exponent (Postgres allows at most 255
// repetitions), so that numeric accepts it.
const (
	bigintText = `'^(0|-?[1-9][0-9]{0,18})$'`
	doubleText = `'^-?(0|[1-9][0-9]{0,254})([.][0-9]{1,255})?([eE][-+]?[0-9]{1,3})?$'`
	int64Range = `BETWEEN -9223372036854775808 AND 9223372036854775807`
	// float8Range keeps numeric → double precision from overflowing or
	// underflowing to an error.
	float8Range = `BETWEEN 1e-307 AND 1.7976931348623157e308`
)

// generatedExpr returns the conversion expression of a column; schema
// qualifies syncd's helper function.
func generatedExpr(schema string, c table.Column) (string, error) {
	path, err := table.ParsePath(c.Path)
	if err != nil {
		return "", err
	}
	v := jsonAt(path)
	s := "(" + v + " #>> '{}')" // the value as text: strings unquoted, JSON null → NULL
	switch c.Type {
	case table.Text:
		return s, nil
	case table.JSONB:
		return "NULLIF(" + v + ", 'null'::jsonb)", nil
	case table.Boolean:
		return "CASE jsonb_typeof(" + v + ") WHEN 'boolean' THEN (" + v + ")::boolean END", nil
	case table.BigInt:
		n := "(" + v + ")::numeric"
		return "CASE jsonb_typeof(" + v + ")" +
			" WHEN 'number' THEN CASE WHEN " + n + " = trunc(" + n + ") AND " + n + " " + int64Range + " THEN " + n + "::bigint END" +
			" WHEN 'string' THEN CASE WHEN " + s + " ~ " + bigintText +
			" THEN CASE WHEN " + s + "::numeric " + int64Range + " THEN " + s + "::bigint END END END", nil
	case table.Double:
		n := "(" + v + ")::numeric"
		sn := s + "::numeric"
		return "CASE jsonb_typeof(" + v + ")" +
			" WHEN 'number' THEN CASE WHEN " + n + " = 0 OR abs(" + n + ") " + float8Range + " THEN " + n + "::double precision END" +
			" WHEN 'string' THEN CASE WHEN " + s + " ~ " + doubleText +
			" THEN CASE WHEN " + sn + " = 0 OR abs(" + sn + ") " + float8Range + " THEN " + sn + "::double precision END END END", nil
	case table.Timestamptz:
		return "CASE jsonb_typeof(" + v + ") WHEN 'string' THEN " + quoteIdent(schema) + ".syncd_timestamptz(" + s + ") END", nil
	}
	return "", fmt.Errorf("unknown column type %q", c.Type)
}

// WantedColumns returns the full definitions of a mapping's columns:
// STORED generated columns.
func (d dialect) WantedColumns(cols []table.Column) ([]table.WantedColumn, error) {
	out := make([]table.WantedColumn, 0, len(cols))
	for _, c := range cols {
		expr, err := generatedExpr(d.schema, c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		out = append(out, table.WantedColumn{Column: c, Definition: sqlTypes[c.Type] + " GENERATED ALWAYS AS (" + expr + ") STORED"})
	}
	return out, nil
}

// NullCount counts, among the rows just upserted, those whose value holds
// something (not JSON null) at a column's path that did not convert; args:
// the keys, and the stream in key scope stream (keyArgs).
func (d dialect) NullCount(name string, scope table.KeyScope, cols []table.Column) string {
	filters := make([]string, 0, len(cols))
	for _, c := range cols {
		path, _ := table.ParsePath(c.Path) // validated by the flow
		filters = append(filters, fmt.Sprintf("count(*) FILTER (WHERE jsonb_typeof(%s) <> 'null' AND %s IS NULL)", jsonAt(path), quoteIdent(c.Name)))
	}
	where := "key = ANY($1::text[])"
	if scope == table.ScopeStream {
		where += " AND stream = $2"
	}
	return "SELECT " + strings.Join(filters, ", ") + " FROM " + d.ident(name) + " WHERE " + where
}
