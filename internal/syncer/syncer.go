// Package syncer owns the commit rule: one loop per stream pulls responses
// from a consumer.Reader, decodes them into a transaction object and commits
// rows and checkpoint in one sink transaction at each up-to-date boundary (or
// the end of the stream); streams come and go through Start and Stop.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/sink"
)

// Policy says what a stream does with a message that is not a valid event.
type Policy string

// The bad-input policies of SYNCD_ON_INVALID.
const (
	DeadLetter Policy = "dead-letter" // write it to syncd_rejects and go on
	Halt       Policy = "halt"        // stop the stream before the batch holding it
)

// Stream names a stream and where to read it.
type Stream struct {
	Name string
	URL  string
	// Types, when not empty, is the stream's allowlist of entity types; a
	// change of another type is a reject. It overrides Options.Types.
	Types []string
	// OnInvalid, when set, is the stream's own bad-input policy; it
	// overrides Options.OnInvalid.
	OnInvalid Policy
}

// Options configure a Syncer.
type Options struct {
	Sink    sink.Writer
	Streams []Stream
	// Consumer is the base configuration of every stream's reader.
	Consumer consumer.Options
	// StartOffset is where a stream without a checkpoint starts: "-1" or "now".
	StartOffset string
	OnInvalid   Policy
	// OnGone is what a 410 Gone does to a stream; empty means GoneHalt.
	OnGone GonePolicy
	// Types, when not empty, is the allowlist of entity types of every stream
	// without its own.
	Types []string
	// MaxBatchBytes bounds the pending coalesced operations held in memory;
	// past it they are written into the still-open transaction, in the
	// background while the stream is decoded on into a second batch (so at
	// most two batches are held).
	MaxBatchBytes int
	// CatchupCommitBytes, when positive, also commits at the first response
	// boundary after that many bytes were read since the last commit.
	CatchupCommitBytes int64
	// Once stops each stream at its first up-to-date commit (or EOF).
	Once bool
	// Source, when set, decides at run time which streams run (discovery,
	// leases), starting the fixed streams too: Streams is then ignored, and
	// Once is not supported.
	Source Source
	Logger *slog.Logger
	// Metrics records what the loops do; nil records nothing.
	Metrics *metrics.Metrics
	// Validate, when set, checks the value of every insert, update and
	// upsert before it enters a batch; a non-empty reason makes the message
	// a reject, handled by the stream's on_invalid. Called concurrently by
	// the streams' loops.
	Validate func(typ string, value []byte) (reason string)
	// OnPanic, when set, receives a panic of any goroutine the syncer
	// started, with its stack, instead of the runtime printing it (cmd/syncd
	// prints it redacted and exits 2). It must not return normally.
	OnPanic func(v any, stack []byte)
	// History, when set, says which entity types keep a history table
	// (the mapping's history: true): every change event of such a type is
	// also kept, numbered by seq from the checkpoint's events_applied, and
	// written in the same transaction as the checkpoint.
	History func(typ string) bool
	// OnCommit, when set, receives the result of every commit (txid
	// waiters, notifications). Called by the stream's loop after the commit.
	OnCommit func(Result)
	// RetryInitial and RetryMax bound the jittered backoff between retries
	// after a database error; zero means 100ms and 30s.
	RetryInitial, RetryMax time.Duration
}

// guard, deferred first in every goroutine the syncer starts, hands a panic
// to OnPanic; without OnPanic the panic goes on as usual.
func (o *Options) guard() {
	if o.OnPanic == nil {
		return
	}
	if v := recover(); v != nil {
		o.OnPanic(v, debug.Stack())
	}
}

// dbBackoff returns a fresh backoff for database retries.
func (o *Options) dbBackoff() *consumer.Backoff {
	initial, ceiling := o.RetryInitial, o.RetryMax
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 30 * time.Second
	}
	return &consumer.Backoff{Initial: initial, Max: ceiling}
}

// Syncer runs the stream loops.
type Syncer struct {
	opts    Options
	log     *slog.Logger
	streams []*streamLoop
	dyn     dynamic // loops started by Options.Source
}

// New checks the options and prepares one loop per stream.
func New(opts Options) (*Syncer, error) {
	if opts.Sink == nil {
		return nil, errors.New("syncer: no sink")
	}
	if len(opts.Streams) == 0 && opts.Source == nil {
		return nil, errors.New("syncer: no streams")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartOffset == "" {
		opts.StartOffset = "-1"
	}
	if opts.OnInvalid == "" {
		opts.OnInvalid = DeadLetter
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 64 << 20
	}
	s := &Syncer{opts: opts, log: opts.Logger}
	if opts.Source != nil {
		// The Source starts every stream that runs here, the fixed ones too:
		// a loop created here would never run and would report as unready.
		return s, nil
	}
	seen := map[string]bool{}
	for _, st := range opts.Streams {
		if seen[st.Name] {
			return nil, fmt.Errorf("syncer: stream %q configured twice", st.Name)
		}
		seen[st.Name] = true
		s.streams = append(s.streams, newStreamLoop(st, &s.opts))
	}
	return s, nil
}

// Run runs every stream until ctx is cancelled or, every stream has ended
// (closed, halted or failed). With Options.Once each stream ends at its first
// up-to-date commit. A stream that fails does not stop the others. Run returns
// the failures of all streams joined, or nil; a cancelled ctx is not a failure.
func (s *Syncer) Run(ctx context.Context) error {
	if s.opts.Source != nil {
		return s.runDynamic(ctx)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.streams))
	for i, l := range s.streams {
		wg.Go(func() {
			defer s.opts.guard()
			errs[i] = l.run(ctx)
			if errs[i] != nil && ctx.Err() == nil {
				l.log.Error("stream stopped", "err", errs[i])
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil && !s.opts.Once && ctx.Err() == nil {
		// Stay up so /readyz and the logs keep reporting the stopped streams
		// instead of a restart loop hiding them.
		s.log.Error("some streams stopped; waiting for shutdown", "err", err)
		<-ctx.Done()
	}
	if ctx.Err() != nil && !s.opts.Once {
		return nil
	}
	return err
}

// Status returns a snapshot of every stream's state in this process.
func (s *Syncer) Status() []StreamStatus {
	out := make([]StreamStatus, len(s.streams))
	for i, l := range s.streams {
		out[i] = l.snapshot()
	}
	return append(out, s.dynamicStatus()...)
}
