package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/sink"
)

// streamStatusJSON is one stream in `syncd status --json`.
type streamStatusJSON struct {
	Stream        string     `json:"stream"`
	URL           string     `json:"url"`
	NextOffset    string     `json:"next_offset"`
	AtTail        *bool      `json:"at_tail"` // committed offset equals the server's tail (null: unknown)
	TailError     string     `json:"tail_error,omitempty"`
	UpToDate      bool       `json:"up_to_date"`
	Closed        bool       `json:"closed"`
	Halted        string     `json:"halted,omitempty"`
	EventsApplied int64      `json:"events_applied"`
	Rejects       int64      `json:"rejects"`
	LastCommit    time.Time  `json:"last_commit"`
	Owner         string     `json:"owner,omitempty"`         // replica holding the stream's lease (SYNCD_LEASES=on)
	LeaseExpires  *time.Time `json:"lease_expires,omitempty"` // when that lease expires unless renewed
}

func statusCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "status", "[--json] [flags]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	p, db, _, err := env.database(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	cps, err := db.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	out := make([]streamStatusJSON, len(cps))
	var wg sync.WaitGroup
	opts := p.consumer
	for i, c := range cps {
		out[i] = streamStatusJSON{Stream: c.Stream, URL: c.URL, NextOffset: c.NextOffset, UpToDate: c.UpToDate,
			Closed: c.Closed, Halted: c.Halted, EventsApplied: c.EventsApplied, Rejects: c.Rejects, LastCommit: c.UpdatedAt.UTC()}
		wg.Go(func() { out[i].AtTail, out[i].TailError = atTail(ctx, opts, c) })
	}
	wg.Wait()
	if err := addLeases(ctx, db, out); err != nil {
		return err
	}
	red := env.redactor()
	for i := range out { // both formats: a URL or an error may hold a secret
		out[i].URL, out[i].TailError, out[i].Halted = red.String(out[i].URL), red.String(out[i].TailError), red.String(out[i].Halted)
	}
	subs := subscriptionStatus(ctx, p.Config, opts.HTTPClient, opts.Header, cps)
	for i := range subs {
		subs[i].Server, subs[i].Error = red.String(subs[i].Server), red.String(subs[i].Error)
		if pr := subs[i].Process; pr != nil {
			pr.Error = red.String(pr.Error)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		body := map[string]any{"streams": out}
		if subs != nil {
			body["subscriptions"] = subs
		}
		return enc.Encode(body)
	}
	if err := printStatus(env, out); err != nil {
		return err
	}
	printSubscriptions(env.stdout, subs)
	return nil
}

// atTail asks the server (HEAD) whether the committed offset is its tail.
func atTail(ctx context.Context, opts consumer.Options, c sink.Checkpoint) (*bool, string) {
	if c.URL == "" {
		return nil, "no URL recorded"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tail, _, err := consumer.Head(ctx, opts.HTTPClient, c.URL, opts.Header)
	if err != nil {
		return nil, err.Error()
	}
	eq := tail == c.NextOffset
	return &eq, ""
}

func printStatus(env *environment, streams []streamStatusJSON) error {
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STREAM\tOFFSET\tAT-TAIL\tUP-TO-DATE\tCLOSED\tEVENTS\tREJECTS\tLAST-COMMIT\tOWNER\tLEASE-EXPIRES\tHALTED")
	for _, s := range streams {
		tail := "unknown"
		if s.AtTail != nil {
			tail = strconv.FormatBool(*s.AtTail)
		}
		halted := s.Halted
		if halted == "" {
			halted = "-"
		}
		owner, expires := "-", "-"
		if s.Owner != "" {
			owner, expires = s.Owner, s.LeaseExpires.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%t\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Stream, s.NextOffset, tail, s.UpToDate, s.Closed,
			s.EventsApplied, s.Rejects, s.LastCommit.Format(time.RFC3339), owner, expires, halted)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, s := range streams {
		if s.TailError != "" {
			fmt.Fprintf(env.stdout, "%s: tail unknown: %s\n", s.Stream, s.TailError)
		}
	}
	return nil
}

func resetCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "reset", "[flags] STREAM")
	p, db, rest, err := env.database(ctx, fs, args, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.ResetStream(ctx, rest[0]); err != nil {
		if errors.Is(err, sink.ErrNotFound) {
			return fmt.Errorf("stream %q has no checkpoint in %s (see `syncd status`)", rest[0], redactURL(p.DatabaseURL))
		}
		return err
	}
	fmt.Fprintf(env.stdout, "stream %s reset: its rows, rejects, txids and checkpoint are gone; the next run re-reads it from SYNCD_START_OFFSET (%s)\n", rest[0], p.StartOffset)
	return nil
}

// rejectJSON is one dead letter in `syncd rejects --json`.
type rejectJSON struct {
	ID             int64  `json:"id"`
	Stream         string `json:"stream"`
	ResponseOffset string `json:"response_offset"`
	Position       int    `json:"position"`
	Reason         string `json:"reason"`
	// The message as received: itself when it is JSON (most rejects are
	// valid JSON but not a valid event), else as text when it is UTF-8,
	// else in base64.
	Raw       json.RawMessage `json:"raw,omitempty"`
	RawText   string          `json:"raw_text,omitempty"`
	RawBase64 string          `json:"raw_base64,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

func rejectsCommand(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "rejects", "[--stream S] [--limit N] [--json] [flags]")
	stream := fs.String("stream", "", "only this stream's rejects (default: every stream)")
	limit := fs.Int("limit", 100, "at most this many rejects per stream, oldest first")
	asJSON := fs.Bool("json", false, "print JSON lines with the raw bytes")
	_, db, _, err := env.database(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := listRejects(ctx, db, *stream, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		for _, r := range rows {
			j := rejectJSON{ID: r.ID, Stream: r.Stream, ResponseOffset: r.ResponseOffset, Position: r.Position, Reason: r.Reason, CreatedAt: r.CreatedAt.UTC()}
			switch {
			case json.Valid(r.Raw):
				j.Raw = r.Raw
			case utf8.Valid(r.Raw):
				j.RawText = string(r.Raw)
			default:
				j.RawBase64 = base64.StdEncoding.EncodeToString(r.Raw)
			}
			if err := enc.Encode(j); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTREAM\tRESPONSE-OFFSET\tPOSITION\tREASON\tRAW")
	for _, r := range rows {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Stream, r.ResponseOffset, r.Position, r.Reason, preview(r.Raw))
	}
	return w.Flush()
}

func listRejects(ctx context.Context, db sink.Sink, stream string, limit int) ([]sink.RejectRow, error) {
	streams := []string{stream}
	if stream == "" {
		cps, err := db.Checkpoints(ctx)
		if err != nil {
			return nil, err
		}
		streams = streams[:0]
		for _, c := range cps {
			streams = append(streams, c.Stream)
		}
	}
	var out []sink.RejectRow
	for _, s := range streams {
		rows, err := db.Rejects(ctx, s, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// preview shows the start of a raw message on one line.
func preview(raw []byte) string {
	const n = 60
	s := strconv.Quote(string(raw))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
