package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/syncd-io/syncd/internal/table"
)

// Table is an entity table as the flow knows it: its name and key scope, the
// statements its dialect built for it, and how to count its conversion NULLs.
type Table[S any] struct {
	Name  string
	Scope table.KeyScope
	SQL   S
	Nulls NullQuery
	// History is the history table the type's change events are appended
	// to, "" when the type keeps no history (see HistoryDialect).
	History string
	// Retention is the type's history_retention; 0 keeps history forever.
	Retention time.Duration
	// Soft says deletes keep the row with deleted_at set.
	Soft bool
}

// NullQuery counts a table's conversion NULLs (see Dialect.NullCount); the
// zero NullQuery means no mapped column of the table can fail to convert.
type NullQuery struct {
	Columns []string
	Query   string
}

// Flow is the one configure-and-evolve flow every dialect runs: it registers
// entity types in syncd_types, creates, renames and re-keys their tables,
// reconciles their generated columns and indexes, and caches the tables it
// knows. S is the dialect's statements for one table (see Table.SQL). A Flow
// is safe for concurrent use.
type Flow[S any] struct {
	d       Dialect
	prepare func(name string, scope table.KeyScope) S
	logger  *slog.Logger

	mu    sync.RWMutex
	types map[string]*Table[S] // entity type → its table, once registered and created
}

// NewFlow returns the flow of dialect d; prepare builds a table's statements.
func NewFlow[S any](d Dialect, prepare func(name string, scope table.KeyScope) S, logger *slog.Logger) *Flow[S] {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Flow[S]{d: d, prepare: prepare, logger: logger, types: map[string]*Table[S]{}}
}

// errNamesTaken says no candidate table name of a type is free.
var errNamesTaken = errors.New("every candidate table name is taken")

// Cached returns the table of typ once it is known to exist, or nil.
func (f *Flow[S]) Cached(typ string) *Table[S] {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.types[typ]
}

// Remember caches tables (by type) whose registration has committed.
func (f *Flow[S]) Remember(tables map[string]*Table[S]) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for typ, t := range tables {
		f.types[typ] = t
	}
}

// Configure implements Sink.Configure: every type's changes run in one
// Dialect.ConfigureTx, so either all apply or none does.
func (f *Flow[S]) Configure(ctx context.Context, m table.Mapping) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("configure tables: %w", err)
	}
	tables := map[string]*Table[S]{}
	// What the transaction did is logged once it committed: a later type's
	// error rolls back every change, and then none of them happened.
	log, logged := deferLog(f.logger)
	err := f.d.ConfigureTx(ctx, func(ex Execer) error {
		logged.drop() // a retried transaction starts over
		for _, tm := range m.ConfigureOrder() {
			t, err := f.configureType(ctx, ex, log, tm)
			if err != nil {
				return err
			}
			tables[tm.Type] = t
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("configure tables in %s: %w", f.d.Where(), err)
	}
	logged.flush(ctx)
	f.Remember(tables)
	return nil
}

// configureType applies one type's mapping and returns its table.
func (f *Flow[S]) configureType(ctx context.Context, ex Execer, log *slog.Logger, tm table.TypeMapping) (*Table[S], error) {
	tlog := log
	log = log.With("type", tm.Type)
	scope := tm.Scope()
	name, have, found, err := f.lookupType(ctx, ex, tm.Type)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", tm.Type, err)
	}
	if !found {
		if name, err = f.claimMapped(ctx, ex, tm); err != nil {
			return nil, err
		}
		if _, err := ex.Exec(ctx, f.d.CreateTable(name, scope)); err != nil {
			return nil, fmt.Errorf("type %q: create table %s: %w", tm.Type, name, err)
		}
		log.Info("created entity table", "table", name, "key_scope", scope)
	} else {
		if tm.Table != "" && tm.Table != name {
			if err := f.renameTable(ctx, ex, tm.Type, name, tm.Table); err != nil {
				return nil, err
			}
			log.Info("renamed entity table", "from", name, "to", tm.Table)
			name = tm.Table
		}
		if err := f.ensureScope(ctx, ex, log, tm.Type, name, have, scope); err != nil {
			return nil, err
		}
	}
	if err := f.reconcileColumns(ctx, ex, tlog, tm, name); err != nil {
		return nil, err
	}
	t := f.newTable(name, scope, tm.Columns)
	if err := f.configureOptions(ctx, ex, tm, t, log); err != nil {
		return nil, err
	}
	return t, nil
}

// Resolve returns the table of typ inside the transaction ex, registering
// it under the first free candidate name and creating it when no one has
// (a table registered but dropped by hand is created again). It does not
// cache the table: the caller Remembers it once ex has committed.
func (f *Flow[S]) Resolve(ctx context.Context, ex Execer, typ string) (*Table[S], error) {
	t, err := f.resolve(ctx, ex, typ)
	if err != nil {
		return nil, fmt.Errorf("table for type %q: %w", typ, err)
	}
	return t, nil
}

func (f *Flow[S]) resolve(ctx context.Context, ex Execer, typ string) (*Table[S], error) {
	name, scope, found, err := f.lookupType(ctx, ex, typ)
	created := false
	if err == nil && !found {
		name, scope, created, err = f.claim(ctx, ex, typ, table.CandidateNames(typ), table.ScopeGlobal)
	}
	if err != nil {
		return nil, err
	}
	if !created {
		exists, err := f.tableExists(ctx, ex, name)
		if err != nil || exists {
			return f.resolved(ctx, ex, typ, name, scope, err)
		}
		f.logger.Warn("entity table registered but missing; creating it", "type", typ, "table", name)
	}
	if _, err := ex.Exec(ctx, f.d.CreateTable(name, scope)); err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	}
	if created {
		f.logger.Info("created entity table", "type", typ, "table", name)
	}
	return f.newTable(name, scope, nil), nil
}

// resolved returns the table of a type found registered, with the soft
// deletes syncd_types records for it (a type no longer in the mapping keeps
// its last setting).
func (f *Flow[S]) resolved(ctx context.Context, ex Execer, typ, name string, scope table.KeyScope, err error) (*Table[S], error) {
	if err != nil {
		return nil, err
	}
	t := f.newTable(name, scope, nil)
	if t.Soft, err = f.lookupSoft(ctx, ex, typ); err != nil {
		return nil, fmt.Errorf("look up the options of type %q: %w", typ, err)
	}
	return t, nil
}

// newTable returns the table with its statements and NULL counter.
func (f *Flow[S]) newTable(name string, scope table.KeyScope, cols []table.Column) *Table[S] {
	t := &Table[S]{Name: name, Scope: scope, SQL: f.prepare(name, scope)}
	var fallible []table.Column
	for _, c := range cols {
		if _, err := table.ParsePath(c.Path); err == nil && canBeNull(c.Type) {
			fallible = append(fallible, c)
			t.Nulls.Columns = append(t.Nulls.Columns, c.Name)
		}
	}
	if len(fallible) > 0 {
		t.Nulls.Query = f.d.NullCount(name, scope, fallible)
	}
	return t
}

// lookupType returns the table name and key scope syncd_types holds for typ.
func (f *Flow[S]) lookupType(ctx context.Context, ex Execer, typ string) (name string, scope table.KeyScope, found bool, err error) {
	found, err = queryRow(ctx, ex, f.d.LookupType(), []any{typ}, &name, &scope)
	if err != nil {
		return "", "", false, fmt.Errorf("look up type: %w", err)
	}
	return name, scope, found, nil
}

// claim returns the table syncd_types holds for typ, registering the first
// free name of names with scope when there is none; created says it did.
func (f *Flow[S]) claim(ctx context.Context, ex Execer, typ string, names []string, scope table.KeyScope) (string, table.KeyScope, bool, error) {
	for _, cand := range names {
		name, have, found, err := f.lookupType(ctx, ex, typ)
		if err != nil || found {
			return name, have, false, err
		}
		taken, err := f.nameTaken(ctx, ex, cand)
		if err != nil {
			return "", "", false, fmt.Errorf("check table name %q: %w", cand, err)
		}
		if taken {
			continue
		}
		n, err := ex.Exec(ctx, f.d.RegisterType(), typ, cand, string(scope))
		if err != nil {
			return "", "", false, fmt.Errorf("register table %s: %w", cand, err)
		}
		if n == 1 {
			return cand, scope, true, nil
		}
		// Another replica registered this type, or took this name, meanwhile:
		// the next round reads the former or tries the next name.
	}
	name, have, found, err := f.lookupType(ctx, ex, typ)
	if err == nil && !found {
		err = errNamesTaken
	}
	return name, have, false, err
}

// claimMapped registers a new mapped type under its explicit table name, or
// the first free default name, with the mapping's key scope.
func (f *Flow[S]) claimMapped(ctx context.Context, ex Execer, tm table.TypeMapping) (string, error) {
	names := []string{tm.Table}
	if tm.Table == "" {
		names = table.CandidateNames(tm.Type)
	}
	name, _, _, err := f.claim(ctx, ex, tm.Type, names, tm.Scope())
	switch {
	case errors.Is(err, errNamesTaken) && tm.Table != "":
		return "", f.takenError(tm.Type, tm.Table)
	case err != nil:
		return "", fmt.Errorf("type %q: %w", tm.Type, err)
	}
	return name, nil
}

func (f *Flow[S]) takenError(typ, name string) error {
	return fmt.Errorf("type %q table: %q is already the table of another type, or a table (or index) syncd did not create, in %s: %w",
		typ, name, f.d.Where(), table.ErrConflict)
}

func (f *Flow[S]) nameTaken(ctx context.Context, ex Execer, name string) (taken bool, err error) {
	_, err = queryRow(ctx, ex, f.d.NameTaken(), []any{name}, &taken)
	return taken, err
}

func (f *Flow[S]) tableExists(ctx context.Context, ex Execer, name string) (exists bool, err error) {
	_, err = queryRow(ctx, ex, f.d.TableExists(), []any{name}, &exists)
	return exists, err
}

// renameTable gives a registered type the table name its mapping sets, with
// its stream index, in syncd_types and syncd_columns too.
func (f *Flow[S]) renameTable(ctx context.Context, ex Execer, typ, from, to string) error {
	taken, err := f.nameTaken(ctx, ex, to)
	if err != nil {
		return fmt.Errorf("type %q table: check %q: %w", typ, to, err)
	}
	if taken {
		return f.takenError(typ, to)
	}
	for _, q := range f.d.RenameTable(from, to) {
		if _, err := ex.Exec(ctx, q); err != nil {
			return fmt.Errorf("type %q table: rename %s to %s: %w", typ, from, to, err)
		}
	}
	for _, q := range f.d.RenameRecords() {
		if _, err := ex.Exec(ctx, q, from, to); err != nil {
			return fmt.Errorf("type %q table: rename %s to %s: %w", typ, from, to, err)
		}
	}
	return nil
}

// ensureScope creates a registered type's table if it went missing, and
// changes its primary key when the mapping's key scope differs from the
// recorded one. Going from stream to global fails when two streams hold
// the same key.
func (f *Flow[S]) ensureScope(ctx context.Context, ex Execer, log *slog.Logger, typ, name string, have, scope table.KeyScope) error {
	exists, err := f.tableExists(ctx, ex, name)
	if err != nil {
		return fmt.Errorf("type %q: %w", typ, err)
	}
	switch {
	case !exists:
		log.Warn("entity table registered but missing; creating it", "table", name)
		if _, err := ex.Exec(ctx, f.d.CreateTable(name, scope)); err != nil {
			return fmt.Errorf("type %q: create table %s: %w", typ, name, err)
		}
	case have != scope:
		if err := f.d.ChangeKeyScope(ctx, ex, name, scope); err != nil {
			return fmt.Errorf("type %q key_scope: %w", typ, err)
		}
		log.Info("changed key scope", "table", name, "from", have, "to", scope)
	}
	if have != scope {
		if _, err := ex.Exec(ctx, f.d.SetKeyScope(), typ, string(scope)); err != nil {
			return fmt.Errorf("type %q: record key_scope: %w", typ, err)
		}
	}
	return nil
}

// reconcileColumns compares the mapping's columns with the table's and
// applies the difference (table.PlanColumns), logging each change.
func (f *Flow[S]) reconcileColumns(ctx context.Context, ex Execer, log *slog.Logger, tm table.TypeMapping, name string) error {
	want, err := f.d.WantedColumns(tm.Columns)
	if err != nil {
		return fmt.Errorf("type %q %w", tm.Type, err)
	}
	have, indexes, err := f.existingColumns(ctx, ex, name)
	if err != nil {
		return fmt.Errorf("type %q: read the columns of %s: %w", tm.Type, name, err)
	}
	plan, err := table.PlanColumns(tm.Type, name, want, have, indexes)
	if err != nil {
		return err
	}
	log = log.With("type", tm.Type, "table", name)
	for _, ix := range plan.DropIndexes {
		if _, err := ex.Exec(ctx, f.dropIndex(name, ix)); err != nil {
			return fmt.Errorf("type %q: drop index %s: %w", tm.Type, ix, err)
		}
		log.Info("dropped index", "index", ix)
	}
	for _, col := range plan.DropColumns {
		if err := f.dropColumn(ctx, ex, tm.Type, name, col); err != nil {
			return err
		}
		if !plan.Changed[col] {
			log.Info("dropped column", "column", col)
		}
	}
	for _, c := range plan.AddColumns {
		if err := f.addColumn(ctx, ex, tm.Type, name, c); err != nil {
			return err
		}
		if plan.Changed[c.Name] {
			log.Info("changed column (dropped and added again)", "column", c.Name, "column_type", c.Type, "path", c.Path)
		} else {
			log.Info("added column", "column", c.Name, "column_type", c.Type, "path", c.Path)
		}
	}
	for _, c := range plan.CreateIndexes {
		ix := table.IndexName(name, c.Name)
		if _, err := ex.Exec(ctx, f.d.CreateIndex(name, c)); err != nil {
			return fmt.Errorf("type %q column %q: create index %s: %w", tm.Type, c.Name, ix, err)
		}
		log.Info("created index", "index", ix, "column", c.Name)
	}
	return nil
}

func (f *Flow[S]) dropColumn(ctx context.Context, ex Execer, typ, name, col string) error {
	if _, err := ex.Exec(ctx, f.d.DropColumn(name, col)); err != nil {
		return fmt.Errorf("type %q column %q: drop: %w", typ, col, err)
	}
	if _, err := ex.Exec(ctx, f.d.ForgetColumn(), name, col); err != nil {
		return fmt.Errorf("type %q column %q: %w", typ, col, err)
	}
	return nil
}

func (f *Flow[S]) addColumn(ctx context.Context, ex Execer, typ, name string, c table.WantedColumn) error {
	if _, err := ex.Exec(ctx, f.d.AddColumn(name, c)); err != nil {
		return fmt.Errorf("type %q column %q (%s at %s): add: %w", typ, c.Name, c.Type, c.Path, err)
	}
	if _, err := ex.Exec(ctx, f.d.RecordColumn(), name, c.Name, c.Path, string(c.Type), c.Definition); err != nil {
		return fmt.Errorf("type %q column %q: %w", typ, c.Name, err)
	}
	return nil
}

// existingColumns returns the table's columns other than the base ones,
// with what syncd_columns recorded of them, and the names of its indexes.
func (f *Flow[S]) existingColumns(ctx context.Context, ex Execer, name string) ([]table.ExistingColumn, []string, error) {
	var cols []table.ExistingColumn
	err := ex.Query(ctx, f.d.ExistingColumns(), []any{name}, func(scan func(...any) error) error {
		var c table.ExistingColumn
		if err := scan(&c.Name, &c.Generated, &c.Definition); err != nil {
			return err
		}
		if !slices.Contains(table.BaseColumns, c.Name) {
			cols = append(cols, c)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	indexes, err := queryStrings(ctx, ex, f.d.Indexes(), name)
	return cols, indexes, err
}

// ResetRows deletes the stream's rows from every registered entity table and
// returns the tables it removed rows from.
func (f *Flow[S]) ResetRows(ctx context.Context, ex Execer, stream string) ([]string, error) {
	names, err := queryStrings(ctx, ex, f.d.EntityTables())
	if err != nil {
		return nil, fmt.Errorf("list entity tables: %w", err)
	}
	var touched []string
	for _, name := range names {
		n, err := ex.Exec(ctx, f.d.ResetRows(name), stream)
		if err != nil {
			return nil, fmt.Errorf("reset table %s: %w", name, err)
		}
		if n > 0 {
			touched = append(touched, name)
		}
	}
	return touched, nil
}

// queryStrings returns the first column of every row of query.
func queryStrings(ctx context.Context, ex Execer, query string, args ...any) ([]string, error) {
	var out []string
	err := ex.Query(ctx, query, args, func(scan func(...any) error) error {
		var s string
		if err := scan(&s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}
