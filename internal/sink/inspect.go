package sink

import (
	"context"
	"time"
)

// Inspector is implemented by sinks that can show what they hold (both
// dialects do). The shared test suite and tests of other packages use it;
// the stream loops never need it.
type Inspector interface {
	// Types lists the registered entity types and their tables, ordered by type.
	Types(ctx context.Context) ([]TypeTable, error)

	// Rows returns every row of the named entity table, ordered by key.
	Rows(ctx context.Context, table string) ([]Row, error)

	// TxIDs returns the stream's rows of syncd_txids, ordered by txid.
	TxIDs(ctx context.Context, stream string) ([]TxIDRow, error)

	// Describe lists the named entity table's columns and indexes.
	Describe(ctx context.Context, table string) (TableDescription, error)

	// ColumnValues returns the named columns of every row of an entity
	// table, ordered by stream and key, keyed by column name, as the
	// driver scans them (nil for NULL).
	ColumnValues(ctx context.Context, table string, columns []string) ([]map[string]any, error)

	// Capabilities says which optional behaviours the sink has.
	Capabilities() Capabilities
}

// TableDescription is what Describe shows of an entity table.
type TableDescription struct {
	Columns []string // in table order
	Indexes []string // sorted
}

// TypeTable is a row of syncd_types.
type TypeTable struct {
	Type     string
	Table    string
	KeyScope string // "global" or "stream"
}

// Row is a row of an entity table.
type Row struct {
	Key          string
	Value        []byte // JSON as stored (Postgres normalizes jsonb's spacing)
	Stream       string
	TxID         string    // "" when NULL
	EventTime    time.Time // zero when NULL
	SyncedOffset string
	SyncedAt     time.Time
}

// TxIDRow is a row of syncd_txids.
type TxIDRow struct {
	Stream      string
	TxID        string
	NextOffset  string
	CommittedAt time.Time
}

// RejectRow is a row of syncd_rejects: a message that was dead-lettered.
type RejectRow struct {
	ID             int64
	Stream         string
	ResponseOffset string
	Position       int
	Raw            []byte // the message exactly as received
	Reason         string
	CreatedAt      time.Time
}
