package sqlite

import (
	"fmt"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// stmts are the statements that move staged rows into one entity table.
type stmts struct {
	upsert string // args: stream, synced_at, type
	delete string // args: see typeArgs

	// empty says whether the table holds no row of the stream's key space
	// (args: typeArgs without the type); load is upsert without its ON
	// CONFLICT clause, for such a table (see applyRows).
	empty, load string

	// insert is the head of an INSERT of entityColumns from VALUES rows,
	// which loads such a table straight from a batch (see tx.load).
	insert string

	// The same for a table with soft deletes: upsertSoft clears deleted_at;
	// softDelete marks live rows deleted with the delete's metadata (args:
	// the commit time, stream, type).
	upsertSoft, softDelete string
}

// entity is an entity table as the shared flow knows it.
type entity = sink.Table[stmts]

// prepare builds the statements of an entity table whose primary key is
// (key), or (stream, key) in key scope stream.
func (dialect) prepare(name string, scope table.KeyScope) stmts {
	pk, deleteWhere := "key", ""
	if scope == table.ScopeStream {
		pk, deleteWhere = "stream, key", "stream = ? AND "
	}
	streamMatch := ""
	if scope == table.ScopeStream {
		streamMatch = " AND t.stream = ?2"
	}
	emptyWhere := ""
	if scope == table.ScopeStream {
		emptyWhere = " WHERE stream = ?"
	}
	// WHERE is required before ON CONFLICT in INSERT … SELECT (SQLite's
	// parsing rule); rows go in key order.
	load := fmt.Sprintf(`INSERT INTO %s (key, value, stream, txid, event_time, synced_offset, synced_at)
			SELECT key, value, ?, txid, event_time, synced_offset, ? FROM temp.syncd_stage
			WHERE type = ? AND NOT del ORDER BY key`, ident(name))
	st := stmts{
		upsert: load + fmt.Sprintf(`
			ON CONFLICT (%s) DO UPDATE SET value = excluded.value, stream = excluded.stream,
				txid = excluded.txid, event_time = excluded.event_time,
				synced_offset = excluded.synced_offset, synced_at = excluded.synced_at`, pk),
		load:   load,
		insert: fmt.Sprintf(`INSERT INTO %s (key, value, stream, txid, event_time, synced_offset, synced_at) VALUES `, ident(name)),
		empty:  fmt.Sprintf(`SELECT NOT EXISTS (SELECT 1 FROM %s%s)`, ident(name), emptyWhere),
		delete: fmt.Sprintf(`DELETE FROM %s WHERE %skey IN (SELECT key FROM temp.syncd_stage WHERE type = ? AND del)`, ident(name), deleteWhere),
		// A delete that replaced a write of the key (s.value) also
		// re-marks a tombstone with that value: the key was live in between.
		softDelete: fmt.Sprintf(`UPDATE %s AS t SET deleted_at = ?1, synced_at = ?1, stream = ?2,
				txid = s.txid, event_time = s.event_time, synced_offset = s.synced_offset,
				value = coalesce(s.value, t.value)
			FROM (SELECT key, txid, event_time, synced_offset, value FROM temp.syncd_stage WHERE type = ?3 AND del) AS s
			WHERE t.key = s.key%s AND (t.deleted_at IS NULL OR s.value IS NOT NULL)`, ident(name), streamMatch),
	}
	st.upsertSoft = st.upsert + ", deleted_at = NULL"
	return st
}

// entityColumns is the number of columns stmts.insert fills per row.
const entityColumns = 7

// scopeArgs are the arguments of the empty query: the stream in key scope
// stream, none otherwise.
func scopeArgs(t *entity, stream string) []any {
	if t.Scope == table.ScopeStream {
		return []any{stream}
	}
	return nil
}

// typeArgs are the arguments of the delete and of the NULL counter: the
// stream in key scope stream, then the staged type.
func typeArgs(t *entity, stream, typ string) []any {
	if t.Scope == table.ScopeStream {
		return []any{stream, typ}
	}
	return []any{typ}
}
