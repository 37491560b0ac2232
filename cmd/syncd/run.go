package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/ops"
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
	if env.onShutdown != nil {
		env.onShutdown(ctx, cfg.ShutdownTimeout, log)
	}
	if env.limitMemory != nil {
		env.limitMemory(cfg.MaxBatchBytes, log)
	}
	unlock, err := lockSQLite(cfg)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := openSink(ctx, env, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fl, err := newFleet(cfg, db, *once, log)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := configureSink(ctx, db, cfg); err != nil {
		return err
	}
	hub := ops.NewTxIDHub()
	s, err := newSyncer(cfg, db, hub, *once, metrics.New(reg), log, fleetSource(fl))
	if err != nil {
		return err
	}
	reg.MustRegister(syncer.NewCollector(s))
	registerLeases(reg, fl)
	stopOps, err := startOps(cfg, reg, s, db, hub, log)
	if err != nil {
		return err
	}
	defer stopOps()
	defer pruneTxIDs(ctx, db, cfg.TxIDRetention, log)()

	log.Info("syncd starting", "version", version, "streams", len(s.Status()), "database", redactURL(cfg.DatabaseURL), "once", *once)
	if err := s.Run(ctx); err != nil {
		return err
	}
	if *once && ctx.Err() != nil {
		return fmt.Errorf("interrupted before every stream was up to date: %w", ctx.Err())
	}
	log.Info("syncd stopped")
	return nil
}

func newSyncer(cfg Config, db sink.Writer, hub *ops.TxIDHub, once bool, m *metrics.Metrics, log *slog.Logger, src syncer.Source) (*syncer.Syncer, error) {
	streams, err := cfg.runStreams()
	if err != nil {
		return nil, err
	}
	validate, err := schemaValidate(cfg, log)
	if err != nil {
		return nil, err
	}
	return syncer.New(syncer.Options{
		Sink:               db,
		Streams:            streams,
		Consumer:           cfg.consumerOptions(log),
		StartOffset:        cfg.StartOffset,
		OnInvalid:          syncer.Policy(cfg.OnInvalid),
		OnGone:             syncer.GonePolicy(cfg.OnGone),
		Types:              cfg.Types,
		MaxBatchBytes:      int(cfg.MaxBatchBytes),
		CatchupCommitBytes: cfg.CatchupCommitBytes,
		Once:               once,
		Source:             src,
		Logger:             log,
		Metrics:            m,
		Validate:           validate,
		OnCommit:           func(r syncer.Result) { hub.Committed(r.TxIDs) },
	})
}

// startOps serves /metrics, /healthz and /readyz on SYNCD_HTTP_ADDR (unless
// empty) and returns the function that stops the server.
func startOps(cfg Config, reg *prometheus.Registry, s *syncer.Syncer, db sink.Sink, hub *ops.TxIDHub, log *slog.Logger) (func(), error) {
	if cfg.HTTPAddr == "" {
		return func() {}, nil
	}
	srv := ops.New(cfg.HTTPAddr, reg, s, db, log.With("component", "ops"))
	srv.ServeTxIDs(db, hub)
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("SYNCD_HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
	}
	log.Info("ops endpoints listening", "addr", srv.Addr(), "paths", "/metrics /healthz /readyz /v1/txid/{txid}")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(); err != nil {
			log.Error("ops server stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// database parses the flags of a command that only touches the database,
// checks it got wantArgs positional arguments, and opens (and migrates) the
// database; the caller closes it.
func (env *environment) database(ctx context.Context, fs *flag.FlagSet, args []string, wantArgs int) (Config, sink.Sink, []string, error) {
	cfg, rest, err := env.config(fs, args, false)
	if err != nil {
		return cfg, nil, rest, err
	}
	if len(rest) != wantArgs {
		return cfg, nil, rest, usageError{fmt.Errorf("expected %d argument(s) after the flags, got %d: %q", wantArgs, len(rest), rest)}
	}
	db, err := openSink(ctx, env, cfg, newLogger(cfg, env.stderr))
	return cfg, db, rest, err
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
	cfg, db, _, err := env.database(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := configureSink(ctx, db, cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "migrations applied to %s\n", redactURL(cfg.DatabaseURL))
	return nil
}
