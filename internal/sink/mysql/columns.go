package mysql

import (
	"fmt"
	"strings"

	"github.com/syncd-io/syncd/internal/table"
)

// Mapped columns are VIRTUAL generated columns computed from value with the
// servers' deterministic built-in functions only (JSON_EXTRACT, JSON_TYPE,
// REGEXP, STR_TO_DATE, …), so they can be indexed. Under strict sql_mode a
// conversion warning is an error when an indexed column is computed, so
// every conversion that could warn sits in the THEN branch of a CASE whose
// WHEN proves it cannot: a value that does not convert gives NULL, never a
// failed commit.

// sqlTypes are the column types of the mapped column types; JSON is
// LONGTEXT on MariaDB (see dialect.jsonColumn).
var sqlTypes = map[table.ColumnType]string{
	table.Text:        "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
	table.BigInt:      "BIGINT",
	table.Double:      "DOUBLE",
	table.Boolean:     "BOOLEAN",
	table.Timestamptz: "DATETIME(6)", // UTC
	table.JSONB:       "JSON",
}

// indexPrefix is how many characters of a text or JSON column an index holds.
const indexPrefix = 255

// jsonPath renders a parsed path as a JSON path literal with every member
// quoted, e.g. '$."profile"."age"' or '$."tags"[0]'. Fields hold only
// [A-Za-z0-9_].
func jsonPath(path []table.PathElem) string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range path {
		if e.IsIndex {
			fmt.Fprintf(&b, "[%d]", e.Index)
		} else {
			b.WriteString(`."` + e.Field + `"`)
		}
	}
	return quoteLiteral(b.String())
}

// jsonAt is the JSON value at path, NULL when the path is missing. Both
// servers read [n] of a non-array as the value itself (auto-wrapping), so
// every index step is guarded by a check that its parent is an array.
func jsonAt(path []table.PathElem) string {
	x := "JSON_EXTRACT(`value`, " + jsonPath(path) + ")"
	var arrays []string
	for i, e := range path {
		if e.IsIndex {
			arrays = append(arrays, "JSON_TYPE(JSON_EXTRACT(`value`, "+jsonPath(path[:i])+")) = 'ARRAY'")
		}
	}
	if len(arrays) == 0 {
		return x
	}
	return "(CASE WHEN " + strings.Join(arrays, " AND ") + " THEN " + x + " END)"
}

// Regular expressions of the texts that convert. bigint: an integer without
// leading zeros of at most 19 digits (then range-checked); double: a number
// whose magnitude stays far inside the double range; timestamp: RFC 3339
// with an explicit zone (the day is checked against the month apart).
const (
	bigintText = `'^(0|-?[1-9][0-9]{0,18})$'`
	doubleText = `'^-?(0|[1-9][0-9]{0,19})([.][0-9]{1,17})?([eE][-+]?0*([0-9]{1,2}|1[0-9]{2}|2[0-7][0-9]|280))?$'`
	timeText   = `'^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,9})?([Zz]|[-+]([01][0-9]|2[0-3]):[0-5][0-9])$'`
	int64Range = `BETWEEN -9223372036854775808 AND 9223372036854775807`
)

// generatedExpr returns the conversion expression of a column.
func generatedExpr(c table.Column) (string, error) {
	path, err := table.ParsePath(c.Path)
	if err != nil {
		return "", err
	}
	x := jsonAt(path)
	jt := "JSON_TYPE(" + x + ")"
	s := "JSON_UNQUOTE(" + x + ")"
	switch c.Type {
	case table.Text:
		return "CASE " + jt + " WHEN 'STRING' THEN " + s + " WHEN 'NULL' THEN NULL ELSE " + s + " END", nil
	case table.JSONB:
		return "CASE WHEN " + jt + " <> 'NULL' THEN " + x + " END", nil
	case table.Boolean:
		return "CASE " + jt + " WHEN 'BOOLEAN' THEN " + s + " = 'true' END", nil
	case table.BigInt:
		return "CASE WHEN " + jt + " IN ('INTEGER', 'UNSIGNED INTEGER', 'STRING') THEN" +
			" CASE WHEN " + s + " REGEXP " + bigintText +
			" THEN CASE WHEN CAST(" + s + " AS DECIMAL(20,0)) " + int64Range + " THEN CAST(" + s + " AS SIGNED) END END END", nil
	case table.Double:
		return "CASE WHEN " + jt + " IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL', 'STRING') THEN" +
			" CASE WHEN " + s + " REGEXP " + doubleText + " THEN CAST(" + s + " AS DOUBLE) END END", nil
	case table.Timestamptz:
		return "CASE WHEN " + jt + " = 'STRING' THEN CASE WHEN " + s + " REGEXP " + timeText +
			" THEN CASE WHEN CAST(SUBSTR(" + s + ", 9, 2) AS UNSIGNED) <= DAY(LAST_DAY(CONCAT(SUBSTR(" + s + ", 1, 7), '-01')))" +
			" THEN " + timestampExpr(s) + " END END END", nil
	}
	return "", fmt.Errorf("unknown column type %q", c.Type)
}

// timestampExpr converts a validated RFC 3339 text s to a UTC DATETIME(6):
// the local date and time, plus the fraction (cut to microseconds), minus
// the zone's offset. STR_TO_DATE and interval arithmetic are allowed in
// indexed generated columns; CAST to DATETIME is not.
func timestampExpr(s string) string {
	zone := "(CASE WHEN RIGHT(" + s + ", 1) IN ('Z', 'z') THEN 1 ELSE 6 END)"
	local := "STR_TO_DATE(CONCAT(SUBSTR(" + s + ", 1, 10), ' ', SUBSTR(" + s + ", 12, 8)), '%Y-%m-%d %H:%i:%s')"
	micros := "CASE WHEN SUBSTR(" + s + ", 20, 1) = '.' THEN CAST(RPAD(SUBSTR(" + s + ", 21, LEAST(6, LENGTH(" + s + ") - 20 - " + zone + ")), 6, '0') AS UNSIGNED) ELSE 0 END"
	offset := "CASE WHEN " + zone + " = 6 THEN (CASE WHEN SUBSTR(" + s + ", -6, 1) = '-' THEN -1 ELSE 1 END)" +
		" * (CAST(SUBSTR(" + s + ", -5, 2) AS UNSIGNED) * 60 + CAST(SUBSTR(" + s + ", -2, 2) AS UNSIGNED)) ELSE 0 END"
	return local + " + INTERVAL " + micros + " MICROSECOND - INTERVAL " + offset + " MINUTE"
}

// columnType is the SQL type of a mapped column on this server.
func (d dialect) columnType(t table.ColumnType) string {
	if t == table.JSONB && d.s.server.mariaDB {
		return "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	}
	return sqlTypes[t]
}

// indexPart is what the index of a mapped column holds: the column, or
// for text and JSON a prefix of it (MySQL cannot index JSON itself, so there
// it is a prefix of its text).
func (d dialect) indexPart(c table.Column) string {
	col := quoteIdent(c.Name)
	switch {
	case c.Type == table.Text, c.Type == table.JSONB && d.s.server.mariaDB:
		return fmt.Sprintf("%s(%d)", col, indexPrefix)
	case c.Type == table.JSONB:
		return fmt.Sprintf("(CAST(%s AS CHAR(%d) CHARACTER SET utf8mb4))", col, indexPrefix)
	}
	return col
}

// WantedColumns returns the full definitions of a mapping's columns:
// VIRTUAL generated columns.
func (d dialect) WantedColumns(cols []table.Column) ([]table.WantedColumn, error) {
	out := make([]table.WantedColumn, 0, len(cols))
	for _, c := range cols {
		expr, err := generatedExpr(c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		out = append(out, table.WantedColumn{Column: c, Definition: d.columnType(c.Type) + " GENERATED ALWAYS AS (" + expr + ") VIRTUAL"})
	}
	return out, nil
}

// NullCount counts, among the rows just upserted, those whose value holds
// something (not JSON null) at a column's path that did not convert. The
// transaction appends the condition that selects those rows (see
// tx.countNulls).
func (dialect) NullCount(name string, scope table.KeyScope, cols []table.Column) string {
	sums := make([]string, 0, len(cols))
	for _, c := range cols {
		path, _ := table.ParsePath(c.Path) // validated by the flow
		sums = append(sums, fmt.Sprintf("COALESCE(SUM(JSON_TYPE(%s) <> 'NULL' AND %s IS NULL), 0)", jsonAt(path), quoteIdent(c.Name)))
	}
	return "SELECT " + strings.Join(sums, ", ") + " FROM " + quoteIdent(name) + " WHERE "
}
