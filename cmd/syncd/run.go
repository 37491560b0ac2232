package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/ops"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/mysql"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/syncer"
)

func runCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "run", "[--once] [flags]")
	once := fs.Bool("once", false, "catch every stream up to date (or its end), commit, and exit 0; non-zero on failure")
	p, _, err := env.plan(fs, args, true)
	if err != nil {
		return err
	}
	log := p.log
	if env.onShutdown != nil {
		env.onShutdown(ctx, p.ShutdownTimeout, log)
	}
	if env.limitMemory != nil {
		env.limitMemory(p.MaxBatchBytes, log)
	}
	unlock, err := lockSQLite(p.Config)
	if err != nil {
		return err
	}
	defer unlock()
	// The ops server starts first: /healthz answers and /readyz says why
	// it is not ready while syncd waits for the database.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, stopOps, err := startOps(p, reg)
	if err != nil {
		return err
	}
	defer stopOps()
	db, err := openWhenReady(ctx, env, p, srv.Waiting)
	if errors.As(err, new(errStopped)) && !*once {
		log.Info("syncd stopped while waiting for the database")
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()
	fl, err := newFleet(p.Config, db, *once, log)
	if err != nil {
		return err
	}

	if err := configureSink(ctx, db, p.file()); err != nil {
		return err
	}
	subs, err := newSubscriptions(ctx, p, db, *once)
	if err != nil {
		return err
	}
	hub := ops.NewTxIDHub()
	onPanic := func(v any, stack []byte) { printPanic(env, v, stack); os.Exit(2) }
	s, err := newSyncer(p, db, hub, *once, newMetrics(p.Config, reg), subs.source(fleetSource(fl)), onPanic)
	if err != nil {
		return err
	}
	reg.MustRegister(streamCollector(p.Config, s))
	registerLeases(reg, fl)
	subs.register(reg)
	subs.serve(srv)
	srv.attach(s, db, hub)
	defer pruneTxIDs(ctx, db, p.TxIDRetention, log)()
	defer pruneHistory(ctx, db, p.file(), p.log)()

	log.Info("syncd starting", "version", version, "streams", len(s.Status()), "database", redactURL(p.DatabaseURL), "once", *once)
	if err := s.Run(ctx); err != nil {
		return err
	}
	if *once && ctx.Err() != nil {
		return fmt.Errorf("interrupted before every stream was up to date: %w", ctx.Err())
	}
	log.Info("syncd stopped")
	return nil
}

func newSyncer(p *plan, db sink.Writer, hub *ops.TxIDHub, once bool, m *metrics.Metrics, src syncer.Source, onPanic func(any, []byte)) (*syncer.Syncer, error) {
	return syncer.New(syncer.Options{
		Sink:               db,
		Streams:            p.streams,
		Consumer:           p.consumer,
		StartOffset:        p.StartOffset,
		OnInvalid:          syncer.Policy(p.OnInvalid),
		OnGone:             syncer.GonePolicy(p.OnGone),
		Types:              p.Types,
		MaxBatchBytes:      int(p.MaxBatchBytes),
		CatchupCommitBytes: p.CatchupCommitBytes,
		Once:               once,
		Source:             src,
		Logger:             p.log,
		Metrics:            m,
		Validate:           schemaValidate(p.file(), p.log),
		History:            historyTypes(p.file()),
		OnCommit:           func(r syncer.Result) { hub.Committed(r.TxIDs); hub.Committed(r.RejectedTxIDs) },
		OnPanic:            onPanic,
	})
}

// opsServer is the ops server of a run; nil when SYNCD_HTTP_ADDR is empty.
type opsServer struct{ *ops.Server }

// Waiting sets /readyz's reason while the database is not open.
func (o *opsServer) Waiting(reason string) {
	if o != nil {
		o.Server.Waiting(reason)
	}
}

// attach gives the server the streams and the database once they exist.
func (o *opsServer) attach(s *syncer.Syncer, db sink.Sink, hub *ops.TxIDHub) {
	if o != nil {
		o.ServeTxIDs(db, hub)
		o.Attach(s, db)
	}
}

// startOps serves /metrics, /healthz and /readyz on SYNCD_HTTP_ADDR (unless
// empty) before the database is open, and returns the function that stops
// the server.
func startOps(p *plan, reg *prometheus.Registry) (*opsServer, func(), error) {
	if p.HTTPAddr == "" {
		return nil, func() {}, nil
	}
	log := p.log
	srv := ops.New(p.HTTPAddr, reg, nil, nil, log.With("component", "ops"))
	srv.Redact(p.redact)
	srv.Waiting("waiting for the database")
	if err := srv.Listen(); err != nil {
		return nil, nil, fmt.Errorf("SYNCD_HTTP_ADDR=%s: %w", p.HTTPAddr, err)
	}
	log.Info("ops endpoints listening", "addr", srv.Addr(), "paths", "/metrics /healthz /readyz /v1/txid/{txid}")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(); err != nil {
			log.Error("ops server stopped", "err", err)
		}
	}()
	return &opsServer{srv}, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// database parses the flags of a command that reads or resets what syncd
// wrote (status, rejects, reset), checks it got wantArgs positional
// arguments, and opens the database without creating or migrating anything:
// a database without syncd's tables (a mistyped path or URL) is an error.
// The caller closes it.
func (env *environment) database(ctx context.Context, fs *flag.FlagSet, args []string, wantArgs int) (*plan, sink.Sink, []string, error) {
	p, rest, err := env.plan(fs, args, false)
	if err != nil {
		return nil, nil, rest, err
	}
	if len(rest) != wantArgs {
		return nil, nil, rest, usageError{fmt.Errorf("expected %d argument(s) after the flags, got %d: %q", wantArgs, len(rest), rest)}
	}
	noTables := fmt.Errorf("no syncd tables at %s (wrong path or database? `syncd run` or `syncd migrate` creates them)", redactURL(p.DatabaseURL))
	if p.dialect == "sqlite" {
		if _, err := os.Stat(p.dsn); errors.Is(err, os.ErrNotExist) {
			return nil, nil, rest, noTables
		}
	}
	db, err := open(ctx, env, p)
	if err != nil {
		return nil, nil, rest, err
	}
	ok, err := db.Initialized(ctx)
	if err == nil && !ok {
		err = noTables
	}
	if err != nil {
		db.Close()
		return nil, nil, rest, err
	}
	return p, db, rest, nil
}

// openSink connects to SYNCD_DATABASE_URL and applies the migrations.
func openSink(ctx context.Context, env *environment, p *plan) (sink.Sink, error) {
	db, err := open(ctx, env, p)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", redactURL(p.DatabaseURL), err)
	}
	return db, nil
}

// open connects to SYNCD_DATABASE_URL.
func open(ctx context.Context, env *environment, p *plan) (sink.Sink, error) {
	var db sink.Sink
	var err error
	switch p.dialect {
	case "postgres":
		db, err = postgres.New(ctx, p.dsn, p.Schema, p.log)
	case "sqlite":
		db, err = sqlite.New(ctx, p.dsn, p.log)
	case "mysql":
		db, err = mysql.New(ctx, p.dsn, p.log)
	default:
		err = errors.New("unreachable: unknown dialect " + p.dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redactURL(p.DatabaseURL), err)
	}
	if env.wrapSink != nil {
		db = env.wrapSink(db)
	}
	return db, nil
}

func migrateCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "migrate", "[flags]")
	p, rest, err := env.plan(fs, args, false)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{fmt.Errorf("expected 0 argument(s) after the flags, got %d: %q", len(rest), rest)}
	}
	db, err := openWhenReady(ctx, env, p, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := configureSink(ctx, db, p.file()); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "migrations applied to %s\n", redactURL(p.DatabaseURL))
	return nil
}
