// Command syncd replicates Durable Streams carrying State Protocol events into
// Postgres or SQLite tables, committing rows and the stream checkpoint in one
// transaction at each up-to-date boundary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/syncd-io/syncd/internal/redact"
	"github.com/syncd-io/syncd/internal/sink"
)

// exitUsage is the exit status of a command line or configuration error.
const exitUsage = 2

// command is one syncd subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a command may touch of the process: tests run commands
// in-process with their own.
type environment struct {
	environ []string
	stdout  io.Writer
	stderr  io.Writer
	// wrapSink, set only by tests, wraps the real sink to observe or
	// interrupt it at a precise moment.
	wrapSink func(sink.Sink) sink.Sink
	// onShutdown, set by main, arms the SYNCD_SHUTDOWN_TIMEOUT watchdog once
	// the configuration is known.
	onShutdown func(ctx context.Context, timeout time.Duration, log *slog.Logger)
	// limitMemory, set by main, applies the default soft memory limit.
	limitMemory func(maxBatchBytes int64, log *slog.Logger)
	// loadFile reads and compiles the SYNCD_CONFIG file (nil: mapping.Load);
	// tests set it to count the reads.
	loadFile fileLoader
	// redact masks secrets in everything printed: logs, errors, status,
	// /readyz, panics. Created on first use; the plan registers the
	// configuration's secrets with it.
	redact *redact.Redactor
}

func commands() []command {
	return []command{
		{"run", "tail the streams into the database (--once: catch up, commit, exit)", runCommand},
		{"migrate", "create or upgrade syncd's tables, then exit", migrateCommand},
		{"status", "show each stream's checkpoint (--json for machines)", statusCommand},
		{"reset", "forget a stream: remove its rows and checkpoint so the next run re-reads it", resetCommand},
		{"rejects", "list dead-lettered messages (--stream S, --limit N, --json)", rejectsCommand},
		{"version", "print the version", versionCommand},
		{"help", "show this help", nil},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore default handling: a second signal ends the process at once
	}()
	env := &environment{environ: os.Environ(), stdout: os.Stdout, stderr: os.Stderr, onShutdown: shutdownWatchdog, limitMemory: defaultMemoryLimit}
	defer exitOnPanic(env, os.Exit)
	os.Exit(Main(ctx, env, os.Args[1:]))
}

// exitOnPanic, deferred, prints a panic of the main goroutine to stderr,
// redacted, with its stack, and exits with status 2 (as an unrecovered
// panic does). The stream loops' goroutines hand theirs to printPanic
// through syncer.Options.OnPanic.
func exitOnPanic(env *environment, exit func(code int)) {
	r := recover()
	if r == nil {
		return
	}
	printPanic(env, r, debug.Stack())
	exit(2)
}

// printPanic prints a panic and its stack to stderr, redacted.
func printPanic(env *environment, v any, stack []byte) {
	red := env.redactor()
	fmt.Fprintf(env.stderr, "panic: %s\n\n%s", red.String(fmt.Sprint(v)), red.String(string(stack)))
}

// shutdownWatchdog ends the process if shutdown, once begun, takes longer
// than timeout: a stuck database or server must not keep a pod terminating.
func shutdownWatchdog(ctx context.Context, timeout time.Duration, log *slog.Logger) {
	go func() {
		<-ctx.Done()
		time.Sleep(timeout)
		log.Error("shutdown took longer than SYNCD_SHUTDOWN_TIMEOUT; exiting without waiting", "timeout", timeout)
		os.Exit(1)
	}()
}

// defaultMemoryLimit sets Go's soft memory limit, unless GOMEMLIMIT is set,
// to twice SYNCD_MAX_BATCH_BYTES (at least 128 MiB): the pending batch is
// the only large live data, and without a limit the GC lets the heap grow to
// twice the live size before collecting, which is what a container limit
// sees. It is soft: the runtime exceeds it rather than thrash.
func defaultMemoryLimit(maxBatchBytes int64, log *slog.Logger) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	limit := max(2*maxBatchBytes, 128<<20)
	debug.SetMemoryLimit(limit)
	log.Debug("soft memory limit set", "bytes", limit, "override", "GOMEMLIMIT")
}

// Main runs one command line and returns the process exit status.
func Main(ctx context.Context, env *environment, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] || c.run == nil {
			continue
		}
		err := c.run(ctx, env, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(env.stderr, "syncd %s: %s\n", c.name, env.redactor().String(err.Error()))
			return exitUsage
		default:
			fmt.Fprintf(env.stderr, "syncd %s: %s\n", c.name, env.redactor().String(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "syncd: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return exitUsage
}

// usageError is a bad command line or setting: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usage(w io.Writer) {
	fmt.Fprintln(w, "syncd replicates Durable Streams (State Protocol) into Postgres or SQLite tables.")
	fmt.Fprintln(w, "\nUsage: syncd COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery setting is an environment variable (SYNCD_*) that a flag of the same name overrides;")
	fmt.Fprintln(w, "`syncd COMMAND -h` lists them with their defaults.")
}

// newFlagSet returns a flag set whose errors are returned, not printed and exited.
func newFlagSet(env *environment, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("syncd "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: syncd %s %s\n\nFlags (each overrides the environment variable named in its help):\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}
