package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/table"
)

// stmts are the statements a data transaction runs on one entity table,
// built once per table.
type stmts struct {
	upsert string // from arrays, for small batches
	move   string // from the COPY staging table, for large ones
	delete string // args: keys, and the stream in key scope stream

	// The same for a table with soft deletes: the upserts clear
	// deleted_at; softDelete marks live rows deleted (args: stream, keys,
	// txids, event times, offsets, last values).
	upsertSoft, moveSoft, softDelete string

	empty string // is the table empty, and the database's clock
	ident pgx.Identifier
}

// entity is an entity table as the shared flow knows it.
type entity = sink.Table[stmts]

// upsertSet is the ON CONFLICT clause of both upserts, with the conflict
// target (the primary key) left to fill in.
const upsertSet = `ON CONFLICT (%s) DO UPDATE SET value = excluded.value, stream = excluded.stream,
	txid = excluded.txid, event_time = excluded.event_time,
	synced_offset = excluded.synced_offset, synced_at = excluded.synced_at`

// prepare builds the statements of an entity table whose primary key is
// (key), or (stream, key) in key scope stream.
func (d dialect) prepare(name string, scope table.KeyScope) stmts {
	ident := d.ident(name)
	deleteWhere, deleteJoin := "key = ANY($1::text[])", "t.key = d.key"
	if scope == table.ScopeStream {
		deleteWhere, deleteJoin = "stream = $2 AND key = ANY($1::text[])", "t.stream = $2 AND t.key = d.key"
	}
	upsertSet := fmt.Sprintf(upsertSet, primaryKey(scope))
	softWhere, softJoin := "key = ANY($2::text[])", ""
	if scope == table.ScopeStream {
		softWhere, softJoin = "stream = $1 AND key = ANY($2::text[])", " AND t.stream = $1"
	}
	st := stmts{
		empty: `SELECT NOT EXISTS (SELECT 1 FROM ` + ident + `), statement_timestamp()`,
		ident: pgx.Identifier{d.schema, name},
		// Rows go in in array order, which is key order: concurrent writers
		// of a shared table lock keys in the same order.
		upsert: fmt.Sprintf(`INSERT INTO %s AS t (key, value, stream, txid, event_time, synced_offset, synced_at)
			SELECT u.key, u.value::jsonb, $1, u.txid, u.event_time, u.synced_offset, statement_timestamp()
			FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
				AS u(key, value, txid, event_time, synced_offset)
			`+upsertSet, ident),
		// The staging table is filled in key order and emptied in it, by
		// the same statement that moves its rows.
		move: fmt.Sprintf(`WITH u AS (DELETE FROM pg_temp.syncd_stage RETURNING *)
			INSERT INTO %s AS t (key, value, stream, txid, event_time, synced_offset, synced_at)
			SELECT u.key, u.value, $1, u.txid, u.event_time, u.synced_offset, statement_timestamp() FROM u
			`+upsertSet, ident),
		// The rows are locked in key order (bytewise, as the batch sorts
		// them) before they are deleted.
		delete: fmt.Sprintf(`DELETE FROM %[1]s AS t USING (
				SELECT key FROM %[1]s WHERE %[2]s ORDER BY key COLLATE "C" FOR UPDATE
			) AS d WHERE %[3]s`, ident, deleteWhere, deleteJoin),
		// The rows are locked in key order, then live ones are marked
		// deleted with the delete's metadata. A delete that replaced a
		// write of the key in the batch (u.value, its LastValue) also
		// re-marks a tombstone with that value: the key was live in
		// between. A missing row is left alone.
		softDelete: fmt.Sprintf(`UPDATE %[1]s AS t SET deleted_at = statement_timestamp(), synced_at = statement_timestamp(),
				stream = $1, txid = u.txid, event_time = u.event_time, synced_offset = u.synced_offset,
				value = coalesce(u.value::jsonb, t.value)
			FROM (
				SELECT key FROM %[1]s WHERE %[2]s ORDER BY key COLLATE "C" FOR UPDATE
			) AS d, unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
				AS u(key, txid, event_time, synced_offset, value)
			WHERE t.key = d.key AND u.key = d.key%[3]s AND (t.deleted_at IS NULL OR u.value IS NOT NULL)`, ident, softWhere, softJoin),
	}
	st.upsertSoft = st.upsert + ", deleted_at = NULL"
	st.moveSoft = st.move + ", deleted_at = NULL"
	return st
}

// keyArgs are the arguments that select rows of t by key: the keys, and the
// stream in key scope stream.
func keyArgs(t *entity, keys []string, stream string) []any {
	if t.Scope == table.ScopeStream {
		return []any{keys, stream}
	}
	return []any{keys}
}

// table returns the entity table of typ, registering and creating it first
// if no replica has yet, in a short transaction of its own on the DDL
// connection: data transactions of different streams then never wait on
// each other's DDL, and a table, once registered, exists. Two replicas
// registering the same type serialize on the syncd_types primary key; the
// loser reads the winner's name. The answer is cached for the life of the
// sink.
func (s *Sink) table(ctx context.Context, typ string) (*entity, error) {
	if t := s.flow.Cached(typ); t != nil {
		return t, nil
	}
	var t *entity
	err := pgx.BeginFunc(ctx, s.ddl, func(tx pgx.Tx) (err error) {
		t, err = s.flow.Resolve(ctx, execer{tx}, typ)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.flow.Remember(map[string]*entity{typ: t})
	return t, nil
}

// PrepareTable implements sink.TablePreparer.
func (s *Sink) PrepareTable(ctx context.Context, typ string) error {
	_, err := s.table(ctx, typ)
	return err
}
