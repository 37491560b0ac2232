package metrics

import "github.com/prometheus/client_golang/prometheus"

// ColumnNulls counts values of mapped columns (SYNCD_CONFIG) that were
// present in a committed row but did not convert to the column's type, so
// the database stored NULL. A nil *ColumnNulls records nothing.
type ColumnNulls struct {
	c *prometheus.CounterVec
}

// NewColumnNulls creates the counter and registers it on reg.
func NewColumnNulls(reg prometheus.Registerer) *ColumnNulls {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "syncd_column_conversion_nulls_total",
		Help: "Values of mapped columns that did not convert to the column's type and were stored as NULL, by table and column.",
	}, []string{"table", "column"})
	reg.MustRegister(c)
	return &ColumnNulls{c: c}
}

// Add records n values of table.column stored as NULL.
func (m *ColumnNulls) Add(table, column string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.c.WithLabelValues(table, column).Add(float64(n))
}
