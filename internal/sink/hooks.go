package sink

import (
	"context"

	"github.com/syncd-io/syncd/internal/state"
)

// ChangeChecker is implemented by sinks that cannot store every change the
// State Protocol allows (MySQL's index limits bound the length of keys,
// types and txids). The stream loop asks it before a change enters a batch,
// so such a change becomes a reject with the reason CheckChange returns
// instead of an error that stops the stream.
type ChangeChecker interface {
	// CheckChange returns why c cannot be stored, or "".
	CheckChange(c state.Change) string
}

// IndexDropper is implemented by dialects whose DROP INDEX must name the
// table (MySQL): the flow then calls DropTableIndex instead of DropIndex.
type IndexDropper interface {
	// DropTableIndex drops the index of the entity table name.
	DropTableIndex(name, index string) string
}

// dropIndex returns the statement that drops index of the table name.
func (f *Flow[S]) dropIndex(name, index string) string {
	if d, ok := f.d.(IndexDropper); ok {
		return d.DropTableIndex(name, index)
	}
	return f.d.DropIndex(index)
}

// TablePreparer is implemented by sinks that create entity tables in
// transactions of their own (Postgres, MySQL): the stream loop hands it each
// type as a catch-up first meets it, so that the table exists before the
// commit, which then only writes rows. On SQLite, the one writer, the DDL
// rides in the data transaction instead.
type TablePreparer interface {
	// PrepareTable registers and creates the table of typ, as a write of
	// the type would, if it does not exist yet.
	PrepareTable(ctx context.Context, typ string) error
}
