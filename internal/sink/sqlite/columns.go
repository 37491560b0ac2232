package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncd-io/syncd/internal/sink"
)

// Mapped columns are VIRTUAL generated columns computed from value with
// SQLite's built-in JSON and date functions only, so any SQLite client can
// read the file. SQLite cannot add a STORED column to an existing table, so
// every mapped column is VIRTUAL: computed when read, or stored in its index
// when it has one. No SQLite conversion raises an error; a value that does
// not convert gives NULL.

// sqlTypes are the declared SQLite types of the mapped column types.
var sqlTypes = map[sink.ColumnType]string{
	sink.Text:        "TEXT",
	sink.BigInt:      "INTEGER",
	sink.Double:      "REAL",
	sink.Boolean:     "INTEGER", // 1 or 0
	sink.Timestamptz: "TEXT",    // RFC 3339 in UTC with milliseconds, so it sorts
	sink.JSONB:       "TEXT",    // JSON text
}

// canBeNull reports whether a present, non-null JSON value may fail to
// convert to typ.
func canBeNull(typ sink.ColumnType) bool {
	return typ != sink.Text && typ != sink.JSONB
}

// jsonPath renders a parsed path as an SQLite JSON path literal, e.g.
// '$.profile.age' or '$.tags[0]'. Fields hold only [A-Za-z0-9_].
func jsonPath(path []sink.PathElem) string {
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
func generatedExpr(c sink.Column) (string, error) {
	path, err := sink.ParsePath(c.Path)
	if err != nil {
		return "", err
	}
	p := jsonPath(path)
	jt := "json_type(value, " + p + ")" // NULL when the path is missing
	x := "json_extract(value, " + p + ")"
	switch c.Type {
	case sink.Text:
		return "CASE WHEN " + jt + " IS NULL OR " + jt + " = 'null' THEN NULL WHEN " + jt + " = 'text' THEN " + x +
			" WHEN " + jt + " IN ('true', 'false') THEN " + jt + " ELSE json_quote(" + x + ") END", nil
	case sink.JSONB:
		return "CASE WHEN " + jt + " IS NULL OR " + jt + " = 'null' THEN NULL WHEN " + jt + " IN ('true', 'false') THEN " + jt +
			" ELSE json_quote(" + x + ") END", nil
	case sink.Boolean:
		return "CASE " + jt + " WHEN 'true' THEN 1 WHEN 'false' THEN 0 END", nil
	case sink.BigInt:
		return "CASE " + jt +
			" WHEN 'integer' THEN CASE WHEN typeof(" + x + ") = 'integer' THEN " + x + " END" +
			" WHEN 'real' THEN CASE WHEN " + x + " = CAST(" + x + " AS INTEGER) AND abs(" + x + ") < 9.2233720368547758e18 THEN CAST(" + x + " AS INTEGER) END" +
			" WHEN 'text' THEN CASE WHEN CAST(CAST(" + x + " AS INTEGER) AS TEXT) = " + x + " THEN CAST(" + x + " AS INTEGER) END END", nil
	case sink.Double:
		n := "json_extract(" + x + ", '$')"
		return "CASE " + jt +
			" WHEN 'integer' THEN CAST(" + x + " AS REAL)" +
			" WHEN 'real' THEN CASE WHEN abs(" + x + ") <= " + maxDouble + " THEN " + x + " END" +
			" WHEN 'text' THEN CASE WHEN length(" + x + ") <= 620 AND " + x + " = trim(" + x + ") AND json_valid(" + x + ")" +
			" THEN CASE WHEN json_type(" + x + ") IN ('integer', 'real') AND abs(" + n + ") <= " + maxDouble + " THEN CAST(" + n + " AS REAL) END END END", nil
	case sink.Timestamptz:
		return "CASE WHEN " + jt + " = 'text' THEN CASE WHEN " + x + " GLOB " + timestampGlob +
			" AND (" + x + " GLOB '*[Zz]' OR " + x + " GLOB '*[+-][0-9][0-9]:[0-9][0-9]')" +
			" AND date(substr(" + x + ", 1, 10)) IS substr(" + x + ", 1, 10)" +
			" THEN strftime('%Y-%m-%dT%H:%M:%fZ', " + x + ") END END", nil
	}
	return "", fmt.Errorf("unknown column type %q", c.Type)
}

// wantedColumns returns the full definitions of a mapping's columns.
func wantedColumns(cols []sink.Column) ([]sink.WantedColumn, error) {
	out := make([]sink.WantedColumn, 0, len(cols))
	for _, c := range cols {
		expr, err := generatedExpr(c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		out = append(out, sink.WantedColumn{Column: c, Definition: sqlTypes[c.Type] + " GENERATED ALWAYS AS (" + expr + ") VIRTUAL"})
	}
	return out, nil
}

// nullCounter counts, among the rows just moved in, those whose value holds
// something (not JSON null) at a column's path that did not convert.
type nullCounter struct {
	columns []string
	query   string // args: type, and the stream in key scope stream
}

// newNullCounter returns the counter of t's fallible columns, or nil.
func newNullCounter(t *table, cols []sink.Column) *nullCounter {
	var names, sums []string
	for _, c := range cols {
		path, err := sink.ParsePath(c.Path)
		if err != nil || !canBeNull(c.Type) {
			continue
		}
		names = append(names, c.Name)
		sums = append(sums, fmt.Sprintf("coalesce(sum(json_type(value, %s) <> 'null' AND %s IS NULL), 0)", jsonPath(path), quoteIdent(c.Name)))
	}
	if len(names) == 0 {
		return nil
	}
	where := "key IN (SELECT key FROM temp.syncd_stage WHERE type = ? AND NOT del)"
	if t.scope == sink.ScopeStream {
		where += " AND stream = ?"
	}
	return &nullCounter{columns: names, query: "SELECT " + strings.Join(sums, ", ") + " FROM main." + quoteIdent(t.name) + " WHERE " + where}
}

// countNulls adds up, for the rows of typ just moved into tbl, the values
// its mapped columns could not convert; only tables with such columns pay.
func (t *tx) countNulls(ctx context.Context, tbl *table, typ string) error {
	if tbl.nulls == nil {
		return nil
	}
	args := []any{typ}
	if tbl.scope == sink.ScopeStream {
		args = append(args, t.stream)
	}
	counts := make([]int64, len(tbl.nulls.columns))
	dest := make([]any, len(counts))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := t.conn.QueryRowContext(ctx, tbl.nulls.query, args...).Scan(dest...); err != nil {
		return err
	}
	t.nulls.Add(tbl.name, tbl.nulls.columns, counts)
	return nil
}

// reportNulls hands the committed conversion counts to the mapping's hook.
func (t *tx) reportNulls() {
	if len(t.nulls) == 0 {
		return
	}
	t.s.mu.RLock()
	report := t.s.mapping.ConversionNulls
	t.s.mu.RUnlock()
	t.nulls.Report(report)
}
