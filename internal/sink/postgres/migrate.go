package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/syncd-io/syncd/migrations"
)

// Migrate creates the schema if missing and applies the embedded migrations
// in it. Replicas starting together serialize on a Postgres advisory lock
// keyed by the schema, so they neither race nor wait on an application's
// own goose migrations in other schemas.
func (s *Sink) Migrate(ctx context.Context) error {
	lockID := s.lockID()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(s.schema))
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema %s: %w", s.schema, err)
	}

	// goose needs database/sql; its connections get the pool's search_path,
	// so goose's version table and the tables land in the schema.
	db := stdlib.OpenDB(*s.pool.Config().ConnConfig.Copy())
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres,
		goose.WithTableName(migrations.VersionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate postgres schema %s: %w", s.schema, err)
	}
	for _, r := range results {
		s.logger.Info("applied migration", "schema", s.schema, "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// lockID is the advisory lock key of migrations in this sink's schema.
func (s *Sink) lockID() int64 {
	h := fnv.New64a()
	h.Write([]byte("syncd migrate\x00" + s.schema))
	return int64(h.Sum64())
}
