package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/syncer"
)

func runCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "run", "[--once] [flags]")
	once := fs.Bool("once", false, "catch every stream up to date (or its end), commit, and exit 0; non-zero on failure")
	cfg, _, err := env.config(fs, args, true)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.stderr)
	db, err := openSink(ctx, env, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	streams, _ := cfg.StreamList()
	s, err := syncer.New(syncer.Options{
		Sink:               db,
		Streams:            streams,
		Consumer:           cfg.consumerOptions(log),
		StartOffset:        cfg.StartOffset,
		OnInvalid:          syncer.Policy(cfg.OnInvalid),
		MaxBatchBytes:      int(cfg.MaxBatchBytes),
		CatchupCommitBytes: cfg.CatchupCommitBytes,
		Once:               *once,
		Logger:             log,
	})
	if err != nil {
		return err
	}
	log.Info("syncd starting", "version", version, "streams", len(streams), "database", redactURL(cfg.DatabaseURL), "once", *once)
	err = s.Run(ctx)
	if err != nil {
		return err
	}
	if *once && ctx.Err() != nil {
		return fmt.Errorf("interrupted before every stream was up to date: %w", ctx.Err())
	}
	log.Info("syncd stopped")
	return nil
}

// openSink connects to SYNCD_DATABASE_URL and applies the migrations.
func openSink(ctx context.Context, env *environment, cfg Config, log *slog.Logger) (sink.Sink, error) {
	dialect, dsn, err := parseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	var db sink.Sink
	switch dialect {
	case "postgres":
		db, err = postgres.New(ctx, dsn, cfg.Schema, log)
	case "sqlite":
		db, err = sqlite.New(ctx, dsn, log)
	default:
		err = errors.New("unreachable: unknown dialect " + dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redactURL(cfg.DatabaseURL), err)
	}
	if env.wrapSink != nil {
		db = env.wrapSink(db)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", redactURL(cfg.DatabaseURL), err)
	}
	return db, nil
}

func migrateCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "migrate", "[flags]")
	cfg, _, err := env.config(fs, args, false)
	if err != nil {
		return err
	}
	db, err := openSink(ctx, env, cfg, newLogger(cfg, env.stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(env.stdout, "migrations applied to %s\n", redactURL(cfg.DatabaseURL))
	return nil
}
