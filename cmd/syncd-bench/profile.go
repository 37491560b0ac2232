package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/syncer"
)

// profile runs the W1 catch-up (from the first -source: the memory source
// by default) in this process, with the same pipeline
// `syncd run --once` wires, under the CPU profiler, once per database, and
// writes DIR/w1-DIALECT.cpu.pprof, an execution trace (w1-DIALECT.trace: go
// tool trace -pprof=sync shows where the pipeline waits) and a heap profile
// taken at the end.
func (b *bench) profile(ctx context.Context) error {
	if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
		return err
	}
	for _, dialect := range []string{"postgres", "sqlite"} {
		if b.cfg.skip[dialect] {
			continue
		}
		t, cleanup, err := b.target(ctx, dialect, "profile")
		if err != nil {
			return err
		}
		d, err := b.profileOne(ctx, t)
		if err == nil {
			err = b.verify(ctx, t, b.w1)
		}
		cleanup()
		if err != nil {
			return fmt.Errorf("profile W1 into %s: %w", dialect, err)
		}
		logf("W1 → %s in-process: %.2f s, verified; profiles in %s", dialect, d.Seconds(), b.cfg.profileDir)
	}
	logf("inspect with: go tool pprof -top %s", filepath.Join(b.cfg.profileDir, "w1-postgres.cpu.pprof"))
	return nil
}

func (b *bench) profileOne(ctx context.Context, t target) (time.Duration, error) {
	var s sink.Sink
	var err error
	if t.dialect == "postgres" {
		s, err = postgres.New(ctx, t.url, t.schema, nil)
	} else {
		s, err = sqlite.New(ctx, t.path, nil)
	}
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return 0, err
	}
	sy, err := syncer.New(syncer.Options{
		Sink:    s,
		Streams: []syncer.Stream{{Name: b.w1.name, URL: b.streamURL(b.cfg.sources[0], b.w1)}},
		Once:    true,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return 0, err
	}
	f, err := os.Create(filepath.Join(b.cfg.profileDir, "w1-"+t.dialect+".cpu.pprof"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	tf, err := os.Create(filepath.Join(b.cfg.profileDir, "w1-"+t.dialect+".trace"))
	if err != nil {
		return 0, err
	}
	defer tf.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, err
	}
	if err := trace.Start(tf); err != nil {
		pprof.StopCPUProfile()
		return 0, err
	}
	start := time.Now()
	err = sy.Run(ctx)
	d := time.Since(start)
	trace.Stop()
	pprof.StopCPUProfile()
	if err != nil {
		return 0, err
	}
	runtime.GC()
	h, err := os.Create(filepath.Join(b.cfg.profileDir, "w1-"+t.dialect+".heap.pprof"))
	if err != nil {
		return 0, err
	}
	defer h.Close()
	return d, pprof.Lookup("allocs").WriteTo(h, 0)
}
