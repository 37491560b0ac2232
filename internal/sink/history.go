package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/syncd-io/syncd/internal/table"
)

// HistoryDialect is what a dialect adds to the shared flow for the per-type
// options history (a <table>_history table of every change event) and
// deletes: soft (a deleted_at column on the entity table). The flow asks
// for it only when a mapping uses either option, so a dialect without it
// still runs every other mapping; the flow's steps are written once here
// and each method returns SQL only. Arguments are passed as documented, in
// that order (see Dialect for how a dialect binds an argument used twice).
//
// A dialect's TxDriver has the data-path half: it writes a batch's
// History() rows of every type whose Table.History is set (append-only,
// one row per event: stream, seq, key, operation, value, old_value, txid,
// event_time, synced_offset, synced_at), and, in a table whose Table.Soft
// is set, clears deleted_at on every upsert and turns a delete of a live
// row into an UPDATE that sets deleted_at and synced_at to the commit time
// and stream, txid, event_time and synced_offset to the delete's.
type HistoryDialect interface {
	Dialect

	// LookupOptions selects coalesce(history_table, '') and soft_deletes of
	// syncd_types; args: type.
	LookupOptions() string
	// SetHistoryTable updates syncd_types.history_table; args: type, history_table.
	SetHistoryTable() string
	// SetSoftDeletes updates syncd_types.soft_deletes; args: type, soft_deletes (bool).
	SetSoftDeletes() string
	// HistoryTables selects every non-null history_table of syncd_types,
	// sorted; no args.
	HistoryTables() string
	// SoftTables selects the table_name of every type with soft_deletes,
	// sorted; no args.
	SoftTables() string

	// CreateHistoryTable creates a history table and its index on
	// synced_at, IF NOT EXISTS: primary key (stream, seq).
	CreateHistoryTable(name string) string
	// AddDeletedAt adds the nullable deleted_at column (timestamptz, TEXT
	// RFC 3339, DATETIME(6)) to an entity table.
	AddDeletedAt(name string) string
	// DropTombstones deletes an entity table's rows whose deleted_at is
	// set; no args. (Dialect.DropColumn then drops the column.)
	DropTombstones(name string) string
	// SoftResetRows sets deleted_at and synced_at of a stream's live rows of
	// an entity table; args: stream, the time (TimeArg).
	SoftResetRows(name string) string
	// DeleteHistory deletes a stream's rows of a history table; args: stream.
	DeleteHistory(name string) string
	// PruneHistory deletes at most limit rows of a history table whose
	// synced_at is before cutoff; args: cutoff (TimeArg), limit (int).
	PruneHistory(name string) string
	// TimeArg turns a time into the argument the dialect compares with
	// its stored synced_at and deleted_at.
	TimeArg(t time.Time) any
}

// errNoHistory says a dialect cannot keep history or tombstones.
var errNoHistory = errors.New("this database does not support history: or deletes: soft yet")

// historyDialect returns the flow's dialect as a HistoryDialect, if it is one.
func (f *Flow[S]) historyDialect() (HistoryDialect, bool) {
	hd, ok := f.d.(HistoryDialect)
	return hd, ok
}

// configureOptions brings a type's history table and deleted_at column in
// line with its mapping, inside the configure transaction, and sets them
// on t. Turning history off keeps the history table (its rows are data)
// but stops writing to it; turning soft deletes off removes the tombstones
// and the column.
func (f *Flow[S]) configureOptions(ctx context.Context, ex Execer, tm table.TypeMapping, t *Table[S], log *slog.Logger) error {
	hd, ok := f.historyDialect()
	if !ok {
		if tm.History || tm.Soft() {
			return fmt.Errorf("type %q: %w", tm.Type, errNoHistory)
		}
		return nil
	}
	var hist string
	var soft bool
	if _, err := queryRow(ctx, ex, hd.LookupOptions(), []any{tm.Type}, &hist, &soft); err != nil {
		return fmt.Errorf("type %q: look up options: %w", tm.Type, err)
	}
	if tm.History {
		name, err := f.ensureHistory(ctx, ex, hd, tm.Type, t.Name, hist, log)
		if err != nil {
			return err
		}
		t.History, t.Retention = name, tm.HistoryRetention
	}
	has, err := f.hasDeletedAt(ctx, ex, t.Name)
	if err != nil {
		return fmt.Errorf("type %q: read the columns of %s: %w", tm.Type, t.Name, err)
	}
	switch {
	case tm.Soft() && !has:
		if _, err := ex.Exec(ctx, hd.AddDeletedAt(t.Name)); err != nil {
			return fmt.Errorf("type %q deletes: add %s to %s: %w", tm.Type, table.DeletedAt, t.Name, err)
		}
		log.Info("soft deletes on: added column", "table", t.Name, "column", table.DeletedAt)
	case !tm.Soft() && has:
		n, err := ex.Exec(ctx, hd.DropTombstones(t.Name))
		if err != nil {
			return fmt.Errorf("type %q deletes: remove the tombstones of %s: %w", tm.Type, t.Name, err)
		}
		if _, err := ex.Exec(ctx, f.d.DropColumn(t.Name, table.DeletedAt)); err != nil {
			return fmt.Errorf("type %q deletes: drop %s of %s: %w", tm.Type, table.DeletedAt, t.Name, err)
		}
		log.Info("soft deletes off: removed the tombstones and the column", "table", t.Name, "rows", n, "column", table.DeletedAt)
	}
	if soft != tm.Soft() {
		if _, err := ex.Exec(ctx, hd.SetSoftDeletes(), tm.Type, tm.Soft()); err != nil {
			return fmt.Errorf("type %q: record deletes: %w", tm.Type, err)
		}
	}
	t.Soft = tm.Soft()
	return nil
}

// ensureHistory returns the history table of a type, registering its name
// (HistoryName of the entity table) the first time and creating it if
// missing.
func (f *Flow[S]) ensureHistory(ctx context.Context, ex Execer, hd HistoryDialect, typ, entity, recorded string, log *slog.Logger) (string, error) {
	name := recorded
	if name == "" {
		name = table.HistoryName(entity)
		taken, err := f.nameTaken(ctx, ex, name)
		if err != nil {
			return "", fmt.Errorf("type %q history: check table name %q: %w", typ, name, err)
		}
		if taken {
			return "", fmt.Errorf("type %q history: %q is already a table (or index) in %s; rename it, or the entity table", typ, name, f.d.Where())
		}
		if _, err := ex.Exec(ctx, hd.SetHistoryTable(), typ, name); err != nil {
			return "", fmt.Errorf("type %q history: record %s: %w", typ, name, err)
		}
	}
	exists, err := f.tableExists(ctx, ex, name)
	if err != nil {
		return "", fmt.Errorf("type %q history: %w", typ, err)
	}
	if !exists {
		if _, err := ex.Exec(ctx, hd.CreateHistoryTable(name)); err != nil {
			return "", fmt.Errorf("type %q history: create table %s: %w", typ, name, err)
		}
		log.Info("history on: created history table", "table", name)
	}
	return name, nil
}

// hasDeletedAt reports whether an entity table has the deleted_at column.
func (f *Flow[S]) hasDeletedAt(ctx context.Context, ex Execer, name string) (bool, error) {
	found := false
	err := ex.Query(ctx, f.d.ExistingColumns(), []any{name}, func(scan func(...any) error) error {
		var col, def string
		var generated bool
		if err := scan(&col, &generated, &def); err != nil {
			return err
		}
		found = found || col == table.DeletedAt
		return nil
	})
	return found, err
}

// lookupSoft reports whether syncd_types records soft deletes for typ
// (false on a dialect without HistoryDialect).
func (f *Flow[S]) lookupSoft(ctx context.Context, ex Execer, typ string) (bool, error) {
	hd, ok := f.historyDialect()
	if !ok {
		return false, nil
	}
	var hist string
	var soft bool
	_, err := queryRow(ctx, ex, hd.LookupOptions(), []any{typ}, &hist, &soft)
	return soft, err
}

// ResetStreamRows applies a reset control event of stream inside its
// transaction: rows of tables with soft deletes are marked deleted at at
// (the dialect's stored form of the commit time, see TimeArg), rows of the
// other tables are deleted. History is left alone. It returns the tables
// it changed.
func (f *Flow[S]) ResetStreamRows(ctx context.Context, ex Execer, stream string, at any) ([]string, error) {
	hd, ok := f.historyDialect()
	if !ok {
		return f.ResetRows(ctx, ex, stream)
	}
	names, err := queryStrings(ctx, ex, f.d.EntityTables())
	if err != nil {
		return nil, fmt.Errorf("list entity tables: %w", err)
	}
	soft, err := queryStrings(ctx, ex, hd.SoftTables())
	if err != nil {
		return nil, fmt.Errorf("list tables with soft deletes: %w", err)
	}
	var touched []string
	for _, name := range names {
		q, args := f.d.ResetRows(name), []any{stream}
		if slices.Contains(soft, name) {
			q, args = hd.SoftResetRows(name), []any{stream, at}
		}
		n, err := ex.Exec(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("reset table %s: %w", name, err)
		}
		if n > 0 {
			touched = append(touched, name)
		}
	}
	return touched, nil
}

// RemoveStream deletes everything the entity and history tables hold of a
// stream (tombstones included), for `syncd reset STREAM`.
func (f *Flow[S]) RemoveStream(ctx context.Context, ex Execer, stream string) error {
	if _, err := f.ResetRows(ctx, ex, stream); err != nil {
		return err
	}
	hd, ok := f.historyDialect()
	if !ok {
		return nil
	}
	names, err := queryStrings(ctx, ex, hd.HistoryTables())
	if err != nil {
		return fmt.Errorf("list history tables: %w", err)
	}
	for _, name := range names {
		exists, err := f.tableExists(ctx, ex, name)
		if err != nil {
			return fmt.Errorf("history table %s: %w", name, err)
		}
		if !exists {
			continue
		}
		if _, err := ex.Exec(ctx, hd.DeleteHistory(name), stream); err != nil {
			return fmt.Errorf("delete history of %s from %s: %w", stream, name, err)
		}
	}
	return nil
}

// PruneBatch is how many history rows one pruning transaction deletes at
// most, so that pruning never holds locks for long.
const PruneBatch = 1000

// PruneHistory deletes the history rows older than their type's
// history_retention (as configured), PruneBatch rows per transaction, off
// the stream transactions; it returns how many it deleted.
func (f *Flow[S]) PruneHistory(ctx context.Context, now time.Time) (int64, error) {
	hd, ok := f.historyDialect()
	if !ok {
		return 0, nil
	}
	f.mu.RLock()
	retention := map[string]time.Duration{}
	for _, t := range f.types {
		if t.History != "" && t.Retention > 0 {
			retention[t.History] = t.Retention
		}
	}
	f.mu.RUnlock()
	var total int64
	for name, keep := range retention {
		cutoff := hd.TimeArg(now.Add(-keep))
		for {
			var n int64
			err := f.d.ConfigureTx(ctx, func(ex Execer) (err error) {
				n, err = ex.Exec(ctx, hd.PruneHistory(name), cutoff, PruneBatch)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("prune history table %s: %w", name, err)
			}
			total += n
			if n < PruneBatch {
				break
			}
		}
	}
	return total, nil
}

// HistoryPruner is implemented by sinks whose types may keep history with a
// history_retention: PruneHistory deletes the rows older than it, in small
// transactions apart from the stream transactions, and returns how many.
type HistoryPruner interface {
	PruneHistory(ctx context.Context, now time.Time) (int64, error)
}
