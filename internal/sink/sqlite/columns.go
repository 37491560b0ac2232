package sqlite

import (
	"fmt"
	"strings"

	"github.com/syncd-io/syncd/internal/table"
)

// Mapped columns are VIRTUAL generated columns computed from value with
// SQLite's built-in JSON and date functions only, so any SQLite client can
// read the file. SQLite cannot add a STORED column to an existing table, so
// every mapped column is VIRTUAL: computed when read, or stored in its index
// when it has one. No SQLite conversion raises an error; a value that does
// not convert gives NULL.

// sqlTypes are the declared SQLite types of the mapped column types.
var sqlTypes = map[table.ColumnType]string{
	table.Text:        "TEXT",
	table.BigInt:      "INTEGER",
	table.Double:      "REAL",
	table.Boolean:     "INTEGER", // 1 or 0
	table.Timestamptz: "TEXT",    // RFC 3339 in UTC with milliseconds, so it sorts
	table.JSONB:       "TEXT",    // JSON text
}

// jsonPath renders a parsed path as an SQLite JSON path literal, e.g.
// '$.profile.age' or '$.tags[0]'. Fields hold only [A-Za-z0-9_].
func jsonPath(path []table.PathElem) string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range path {
		if e.IsIndex {
			fmt.Fprintf(&b, "[%d]", e.Index)
		} else {
			b.WriteString("." + e.Field)
		}
	}
	return quoteLiteral(b.String())
}

// quoteLiteral quotes an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// maxDouble is the largest finite double.
const maxDouble = "1.7976931348623157e308"

// timestampGlob matches the start of an RFC 3339 date-time; the zone is
// checked apart. It also keeps strftime away from 'now' and its modifiers,
// which a generated column may not use.
const timestampGlob = `'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'`

// generatedExpr returns the conversion expression of a column.
func generatedExpr(c table.Column) (string, error) {
	path, err := table.ParsePath(c.Path)
	if err != nil {
		return "", err
	}
	p := jsonPath(path)
	jt := "json_type(value, " + p + ")" // NULL when the path is missing
	x := "json_extract(value, " + p + ")"
	switch c.Type {
	case table.Text:
		return "CASE WHEN " + jt + " IS NULL OR " + jt + " = 'null' THEN NULL WHEN " + jt + " = 'text' THEN " + x +
			" WHEN " + jt + " IN ('true', 'false') THEN " + jt + " ELSE json_quote(" + x + ") END", nil
	case table.JSONB:
		return "CASE WHEN " + jt + " IS NULL OR " + jt + " = 'null' THEN NULL WHEN " + jt + " IN ('true', 'false') THEN " + jt +
			" ELSE json_quote(" + x + ") END", nil
	case table.Boolean:
		return "CASE " + jt + " WHEN 'true' THEN 1 WHEN 'false' THEN 0 END", nil
	case table.BigInt:
		return "CASE " + jt +
			" WHEN 'integer' THEN CASE WHEN typeof(" + x + ") = 'integer' THEN " + x + " END" +
			" WHEN 'real' THEN CASE WHEN " + x + " = CAST(" + x + " AS INTEGER) AND abs(" + x + ") < 9.2233720368547758e18 THEN CAST(" + x + " AS INTEGER) END" +
			" WHEN 'text' THEN CASE WHEN CAST(CAST(" + x + " AS INTEGER) AS TEXT) = " + x + " THEN CAST(" + x + " AS INTEGER) END END", nil
	case table.Double:
		n := "json_extract(" + x + ", '$')"
		return "CASE " + jt +
			" WHEN 'integer' THEN CAST(" + x + " AS REAL)" +
			" WHEN 'real' THEN CASE WHEN abs(" + x + ") <= " + maxDouble + " THEN " + x + " END" +
			" WHEN 'text' THEN CASE WHEN length(" + x + ") <= 620 AND " + x + " = trim(" + x + ") AND json_valid(" + x + ")" +
			" THEN CASE WHEN json_type(" + x + ") IN ('integer', 'real') AND abs(" + n + ") <= " + maxDouble + " THEN CAST(" + n + " AS REAL) END END END", nil
	case table.Timestamptz:
		return "CASE WHEN " + jt + " = 'text' THEN CASE WHEN " + x + " GLOB " + timestampGlob +
			" AND (" + x + " GLOB '*[Zz]' OR " + x + " GLOB '*[+-][0-9][0-9]:[0-9][0-9]')" +
			" AND date(substr(" + x + ", 1, 10)) IS substr(" + x + ", 1, 10)" +
			" THEN strftime('%Y-%m-%dT%H:%M:%fZ', " + x + ") END END", nil
	}
	return "", fmt.Errorf("unknown column type %q", c.Type)
}

// WantedColumns returns the full definitions of a mapping's columns:
// VIRTUAL generated columns.
func (dialect) WantedColumns(cols []table.Column) ([]table.WantedColumn, error) {
	out := make([]table.WantedColumn, 0, len(cols))
	for _, c := range cols {
		expr, err := generatedExpr(c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		out = append(out, table.WantedColumn{Column: c, Definition: sqlTypes[c.Type] + " GENERATED ALWAYS AS (" + expr + ") VIRTUAL"})
	}
	return out, nil
}

// NullCount counts, among the rows just moved in, those whose value holds
// something (not JSON null) at a column's path that did not convert; args:
// typeArgs.
func (dialect) NullCount(name string, scope table.KeyScope, cols []table.Column) string {
	sums := make([]string, 0, len(cols))
	for _, c := range cols {
		path, _ := table.ParsePath(c.Path) // validated by the flow
		sums = append(sums, fmt.Sprintf("coalesce(sum(json_type(value, %s) <> 'null' AND %s IS NULL), 0)", jsonPath(path), quoteIdent(c.Name)))
	}
	where := "key IN (SELECT key FROM temp.syncd_stage WHERE type = ? AND NOT del)"
	if scope == table.ScopeStream {
		where = "stream = ? AND " + where
	}
	return "SELECT " + strings.Join(sums, ", ") + " FROM " + ident(name) + " WHERE " + where
}
