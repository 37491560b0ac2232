package table

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// IndexPrefix starts the name of every index syncd creates for a mapped
// column; a sink drops only indexes with this prefix.
const IndexPrefix = "syncd_ix_"

// IndexName returns the deterministic name of the index on a mapped column:
// IndexPrefix, 12 hex digits of a hash of table and column (index names
// share a namespace with tables in Postgres), then as much of the column
// name as fits in MaxName bytes.
func IndexName(table, column string) string {
	sum := sha256.Sum256([]byte(table + "\x00" + column))
	name := IndexPrefix + hex.EncodeToString(sum[:6]) + "_" + column
	return truncate(name, MaxName)
}

// WantedColumn is a mapped column with the full SQL definition a dialect
// gives it (type and generation expression), which is what is compared on
// restart.
type WantedColumn struct {
	Column
	Definition string
}

// ExistingColumn is a column an entity table has besides BaseColumns.
type ExistingColumn struct {
	Name      string
	Generated bool
	// Definition is what syncd_columns recorded when syncd added it; ""
	// when syncd has no record of it.
	Definition string
}

// ColumnPlan is what brings a table's mapped columns and indexes in line
// with its mapping. A sink applies it in order: DropIndexes, DropColumns,
// AddColumns, CreateIndexes.
type ColumnPlan struct {
	DropIndexes   []string // index names
	DropColumns   []string
	AddColumns    []WantedColumn
	CreateIndexes []WantedColumn // columns whose index is missing (or dropped above)
	Changed       map[string]bool
}

// Empty reports whether the plan changes nothing.
func (p ColumnPlan) Empty() bool {
	return len(p.DropIndexes) == 0 && len(p.DropColumns) == 0 && len(p.AddColumns) == 0 && len(p.CreateIndexes) == 0
}

// PlanColumns compares a table's wanted columns with what it has. A
// generated column that syncd recorded and the mapping no longer lists is
// dropped; a wanted column whose recorded definition differs (another path
// or type) is dropped and added again; a column that syncd did not add and
// that the mapping names is an error (it would hide the user's column).
// Columns that syncd did not add and the mapping does not name are left
// alone, as are indexes without IndexPrefix.
func PlanColumns(typ, table string, want []WantedColumn, have []ExistingColumn, indexes []string) (ColumnPlan, error) {
	p := ColumnPlan{Changed: map[string]bool{}}
	byName := map[string]ExistingColumn{}
	for _, c := range have {
		byName[c.Name] = c
	}
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.Name] = true
		c, ok := byName[w.Name]
		switch {
		case !ok:
			p.AddColumns = append(p.AddColumns, w)
		case c.Definition == w.Definition:
		case !c.Generated:
			return ColumnPlan{}, fmt.Errorf("type %q column %q: table %s already has a column %q that syncd did not generate; choose another column name: %w",
				typ, w.Name, table, w.Name, ErrConflict)
		default:
			p.DropColumns = append(p.DropColumns, w.Name)
			p.AddColumns = append(p.AddColumns, w)
			p.Changed[w.Name] = true
		}
	}
	for _, c := range have {
		if !wanted[c.Name] && c.Generated && c.Definition != "" {
			p.DropColumns = append(p.DropColumns, c.Name)
		}
	}
	dropped := map[string]bool{}
	for _, name := range p.DropColumns {
		dropped[name] = true
	}
	keepIndex := map[string]bool{}
	for _, w := range want {
		if w.Index {
			keepIndex[IndexName(table, w.Name)] = !dropped[w.Name]
		}
	}
	exists := map[string]bool{}
	for _, ix := range indexes {
		if !strings.HasPrefix(ix, IndexPrefix) {
			continue
		}
		if keepIndex[ix] {
			exists[ix] = true
		} else {
			p.DropIndexes = append(p.DropIndexes, ix)
		}
	}
	for _, w := range want {
		if w.Index && !exists[IndexName(table, w.Name)] {
			p.CreateIndexes = append(p.CreateIndexes, w)
		}
	}
	slices.Sort(p.DropIndexes)
	slices.Sort(p.DropColumns)
	return p, nil
}
