package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// stmts are the statement parts a data transaction runs on one entity
// table, built once per table; the transaction adds the rows or keys.
type stmts struct {
	insert string // INSERT INTO … VALUES: the rows follow
	update string // the ON DUPLICATE KEY UPDATE clause after the rows
	// updateSoft is update for a table with soft deletes: it also clears
	// deleted_at.
	updateSoft string
	delete     string // DELETE … WHERE [stream = ? AND] key IN: the keys follow in parentheses
}

// entity is an entity table as the shared flow knows it.
type entity = sink.Table[stmts]

// rowValues is one row of an upsert: key, value, stream, txid, event_time,
// synced_offset, and the commit time from the server's clock.
const rowValues = "(?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))"

// onDuplicate is the ON DUPLICATE KEY UPDATE clause that overwrites cols
// with the new row's, spelled as the server accepts it: MySQL 8.0.19+ names
// the new row by an alias (VALUES() is deprecated there), MariaDB has only
// VALUES().
func (s *Sink) onDuplicate(cols ...string) string {
	sets := make([]string, len(cols))
	for i, c := range cols {
		if s.server.rowAlias {
			sets[i] = fmt.Sprintf("%[1]s = syncd_new.%[1]s", quoteIdent(c))
		} else {
			sets[i] = fmt.Sprintf("%[1]s = VALUES(%[1]s)", quoteIdent(c))
		}
	}
	update := " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
	if s.server.rowAlias {
		update = " AS syncd_new" + update
	}
	return update
}

// rowArgs is the number of placeholders of rowValues.
const rowArgs = 6

// updated are the columns an upsert overwrites.
var updated = []string{"value", "stream", "txid", "event_time", "synced_offset", "synced_at"}

// prepare builds the statements of an entity table whose primary key is
// (key), or (stream, key) in key scope stream.
func (d dialect) prepare(name string, scope table.KeyScope) stmts {
	update := d.s.onDuplicate(updated...)
	updateSoft := update + ", " + quoteIdent(table.DeletedAt) + " = NULL"
	deleteWhere := ""
	if scope == table.ScopeStream {
		deleteWhere = "`stream` = ? AND "
	}
	return stmts{
		insert:     "INSERT INTO " + quoteIdent(name) + " (`key`, `value`, `stream`, `txid`, `event_time`, `synced_offset`, `synced_at`) VALUES ",
		update:     update,
		updateSoft: updateSoft,
		delete:     "DELETE FROM " + quoteIdent(name) + " WHERE " + deleteWhere + "`key` IN ",
	}
}

// table returns the entity table of typ, registering and creating it first
// if no replica has yet, on a connection of its own under the configure
// lock (DDL would commit the data transaction). The DDL is idempotent
// (CREATE TABLE IF NOT EXISTS) and commits before any row of the type is
// written, so a crash in between leaves an empty registered table. The
// answer is cached for the life of the sink.
func (s *Sink) table(ctx context.Context, typ string) (*entity, error) {
	if t := s.flow.Cached(typ); t != nil {
		return t, nil
	}
	var t *entity
	err := dialect{s}.ConfigureTx(ctx, func(ex sink.Execer) (err error) {
		t, err = s.flow.Resolve(ctx, ex, typ)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.flow.Remember(map[string]*entity{typ: t})
	return t, nil
}

// placeholders returns "(?, ?, …)" with n placeholders.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// PrepareTable implements sink.TablePreparer.
func (s *Sink) PrepareTable(ctx context.Context, typ string) error {
	_, err := s.table(ctx, typ)
	return err
}
