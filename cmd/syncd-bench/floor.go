package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The floor of a catch-up is the database's own insert of the final rows:
// after syncd has filled the entity tables, the same rows are copied by the
// database itself (INSERT … SELECT) into identical empty tables, all in one
// transaction. No writer that gets the rows over a connection can beat it;
// the ratio catch-up ÷ (pure read + floor) says how far syncd is from it.

// entityTables lists the tables syncd created for the workload's types.
func entityTables(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM syncd_types ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("list entity tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// floorPostgres creates, per entity table of t's schema, an identical empty
// table (LIKE … INCLUDING ALL: columns, primary key, stream index), then
// times INSERT … SELECT of every table into its copy in one transaction.
func floorPostgres(ctx context.Context, conn *pgx.Conn, t target) (time.Duration, error) {
	db, err := openTarget(t, t.url)
	if err != nil {
		return 0, err
	}
	tables, err := entityTables(ctx, db)
	db.Close()
	if err != nil {
		return 0, err
	}
	var inserts []string
	for i, name := range tables {
		src := pgx.Identifier{t.schema, name}.Sanitize()
		dst := pgx.Identifier{t.schema, fmt.Sprintf("floor_%d", i)}.Sanitize()
		if _, err := conn.Exec(ctx, "CREATE TABLE "+dst+" (LIKE "+src+" INCLUDING ALL)"); err != nil {
			return 0, fmt.Errorf("floor table for %s: %w", name, err)
		}
		inserts = append(inserts, "INSERT INTO "+dst+" SELECT * FROM "+src)
	}
	start := time.Now()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range inserts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	return time.Since(start), err
}

// sqliteFloorDDL is an entity table as the SQLite sink creates it, with its
// stream index.
const sqliteFloorDDL = `CREATE TABLE %[1]s (
	key           TEXT NOT NULL,
	value         TEXT NOT NULL,
	stream        TEXT NOT NULL,
	txid          TEXT,
	event_time    TEXT,
	synced_offset TEXT NOT NULL,
	synced_at     TEXT NOT NULL,
	PRIMARY KEY (key)
);
CREATE INDEX %[1]s_stream ON %[1]s (stream)`

// floorSQLite does the same on SQLite: identical empty tables, then every
// INSERT … SELECT in one transaction (the file's journal mode as syncd left
// it: WAL).
func floorSQLite(ctx context.Context, t target) (time.Duration, error) {
	db, err := sql.Open("sqlite", "file:"+t.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tables, err := entityTables(ctx, db)
	if err != nil {
		return 0, err
	}
	var inserts []string
	for i, name := range tables {
		dst := fmt.Sprintf("floor_%d", i)
		if _, err := db.ExecContext(ctx, fmt.Sprintf(sqliteFloorDDL, dst)); err != nil {
			return 0, fmt.Errorf("floor table for %s: %w", name, err)
		}
		inserts = append(inserts, "INSERT INTO "+dst+" SELECT key, value, stream, txid, event_time, synced_offset, synced_at FROM "+
			`"`+strings.ReplaceAll(name, `"`, `""`)+`"`)
	}
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	for _, q := range inserts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return 0, fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
