package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
)

// table is an entity table with its statements, built once per table.
type table struct {
	name   string // unquoted, as recorded in syncd_types
	ident  string // quoted and schema-qualified
	scope  sink.KeyScope
	upsert string // from arrays, for small batches
	move   string // from the COPY staging table, for large ones
	delete string // args: keys, and the stream in key scope stream
	reset  string
	nulls  *nullCounter // nil unless mapped columns may fail to convert
}

// upsertSet is the ON CONFLICT clause of both upserts, with the conflict
// target (the primary key) left to fill in.
const upsertSet = `ON CONFLICT (%s) DO UPDATE SET value = excluded.value, stream = excluded.stream,
	txid = excluded.txid, event_time = excluded.event_time,
	synced_offset = excluded.synced_offset, synced_at = excluded.synced_at`

// newTable builds the statements of an entity table whose primary key is
// (key), or (stream, key) in key scope stream.
func (s *Sink) newTable(name string, scope sink.KeyScope) *table {
	ident := pgx.Identifier{s.schema, name}.Sanitize()
	pk, deleteWhere, deleteJoin := "key", "key = ANY($1::text[])", "t.key = d.key"
	if scope == sink.ScopeStream {
		pk, deleteWhere, deleteJoin = "stream, key", "stream = $2 AND key = ANY($1::text[])", "t.stream = $2 AND t.key = d.key"
	}
	upsertSet := fmt.Sprintf(upsertSet, pk)
	return &table{
		name:  name,
		ident: ident,
		scope: scope,
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
		reset: fmt.Sprintf(`DELETE FROM %s WHERE stream = $1`, ident),
	}
}

// createTable returns the DDL of an entity table and its stream index. The
// index is named syncd_stream_ + a hash of the table name: entity tables never
// take syncd_ names, and Postgres would silently cut a longer derived name.
func createTable(t *table) string {
	sum := sha256.Sum256([]byte(t.name))
	index := quoteIdent("syncd_stream_" + hex.EncodeToString(sum[:8]))
	pk := "key"
	if t.scope == sink.ScopeStream {
		pk = "stream, key"
	}
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
			key           text        NOT NULL,
			value         jsonb       NOT NULL,
			stream        text        NOT NULL,
			txid          text,
			event_time    timestamptz,
			synced_offset text        NOT NULL,
			synced_at     timestamptz NOT NULL,
			PRIMARY KEY (%s)
		);
		CREATE INDEX IF NOT EXISTS %s ON %s (stream)`, t.ident, pk, index, t.ident)
}

// table returns the entity table of typ, registering and creating it first
// if no replica has yet. The answer is cached for the life of the sink.
func (s *Sink) table(ctx context.Context, typ string) (*table, error) {
	s.mu.RLock()
	t := s.types[typ]
	s.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	t, err := s.registerType(ctx, typ)
	if err != nil {
		return nil, fmt.Errorf("table for type %q: %w", typ, err)
	}
	s.mu.Lock()
	s.types[typ] = t
	s.mu.Unlock()
	return t, nil
}

// registerType finds or claims a table name for typ and creates the table, in
// a short transaction of its own on the DDL connection: data transactions of
// different streams then never wait on each other's DDL, and a table, once
// registered, exists. Two replicas registering the same type serialize on the
// syncd_types primary key; the loser reads the winner's name.
func (s *Sink) registerType(ctx context.Context, typ string) (*table, error) {
	var t *table
	err := pgx.BeginFunc(ctx, s.ddl, func(tx pgx.Tx) error {
		name, created, err := s.claimName(ctx, tx, typ)
		if err != nil {
			return err
		}
		scope, err := s.registeredScope(ctx, tx, typ)
		if err != nil {
			return err
		}
		t = s.newTable(name, scope)
		if !created {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t.ident).Scan(&exists); err != nil || exists {
				return err
			}
			s.logger.Warn("entity table registered but missing; creating it", "type", typ, "table", name)
		}
		if _, err := tx.Exec(ctx, createTable(t)); err != nil {
			return fmt.Errorf("create table %s: %w", t.ident, err)
		}
		if created {
			s.logger.Info("created entity table", "type", typ, "table", name)
		}
		return nil
	})
	return t, err
}

// claimName returns the table name registered for typ, registering the first
// free candidate name when there is none; created says it registered one.
func (s *Sink) claimName(ctx context.Context, tx pgx.Tx, typ string) (name string, created bool, err error) {
	for _, cand := range sink.CandidateTableNames(typ) {
		if name, err = s.registeredName(ctx, tx, typ); err != nil || name != "" {
			return name, false, err
		}
		var taken bool
		ident := pgx.Identifier{s.schema, cand}.Sanitize()
		if err := tx.QueryRow(ctx, s.q.tableTaken, cand, ident).Scan(&taken); err != nil {
			return "", false, fmt.Errorf("check table name %q: %w", cand, err)
		}
		if taken {
			continue
		}
		tag, err := tx.Exec(ctx, s.q.registerType, typ, cand)
		if err != nil {
			return "", false, fmt.Errorf("register type: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return cand, true, nil
		}
		// Another replica registered this type, or took this name, meanwhile:
		// the next round reads the former or tries the next name.
	}
	if name, err = s.registeredName(ctx, tx, typ); err != nil || name != "" {
		return name, false, err
	}
	return "", false, errors.New("every candidate table name is taken")
}

// registeredName returns the table name syncd_types holds for typ, or "".
func (s *Sink) registeredName(ctx context.Context, tx pgx.Tx, typ string) (string, error) {
	var name string
	err := tx.QueryRow(ctx, s.q.typeTable, typ).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up type: %w", err)
	}
	return name, nil
}
