package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
)

// streamStatusJSON is one stream in `syncd status --json`.
type streamStatusJSON struct {
	Stream        string    `json:"stream"`
	URL           string    `json:"url"`
	NextOffset    string    `json:"next_offset"`
	UpToDate      bool      `json:"up_to_date"`
	Closed        bool      `json:"closed"`
	EventsApplied int64     `json:"events_applied"`
	Rejects       int64     `json:"rejects"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func statusCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "status", "[--json] [flags]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	cfg, _, err := env.config(fs, args, false)
	if err != nil {
		return err
	}
	db, err := openSink(ctx, env, cfg, newLogger(cfg, env.stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	cps, err := db.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	if *asJSON {
		return printStatusJSON(env, cps)
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STREAM\tOFFSET\tUP-TO-DATE\tCLOSED\tEVENTS\tREJECTS\tUPDATED\tURL")
	for _, c := range cps {
		fmt.Fprintf(w, "%s\t%s\t%t\t%t\t%d\t%d\t%s\t%s\n", c.Stream, c.NextOffset, c.UpToDate, c.Closed,
			c.EventsApplied, c.Rejects, c.UpdatedAt.UTC().Format(time.RFC3339), c.URL)
	}
	return w.Flush()
}

func printStatusJSON(env *environment, cps []sink.Checkpoint) error {
	out := make([]streamStatusJSON, len(cps))
	for i, c := range cps {
		out[i] = streamStatusJSON{c.Stream, c.URL, c.NextOffset, c.UpToDate, c.Closed, c.EventsApplied, c.Rejects, c.UpdatedAt.UTC()}
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"streams": out})
}

func resetCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "reset", "STREAM [flags]")
	cfg, rest, err := env.config(fs, args, false)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{fmt.Errorf("reset takes exactly one stream name, got %d", len(rest))}
	}
	db, err := openSink(ctx, env, cfg, newLogger(cfg, env.stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.ResetStream(ctx, rest[0]); err != nil {
		return fmt.Errorf("reset %s: %w", rest[0], err)
	}
	fmt.Fprintf(env.stdout, "stream %s reset: its rows and checkpoint are gone; the next run re-reads it from %s\n", rest[0], cfg.StartOffset)
	return nil
}
