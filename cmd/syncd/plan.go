package main

import (
	"errors"
	"flag"
	"log/slog"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/discovery"
	"github.com/syncd-io/syncd/internal/mapping"
	"github.com/syncd-io/syncd/internal/redact"
)

// plan is one command's configuration, read once: the variables and flags,
// the SYNCD_CONFIG file with its compiled JSON Schemas, and what the
// commands derive from them. Commands pass it down; nothing below reads the
// environment or the file again, so the file cannot change between the
// check and the use.
type plan struct {
	Config
	streams  []StreamSpec     // fixed streams: SYNCD_STREAMS merged with the file (none for a glob-only run or a database command)
	globs    []discovery.Glob // the glob items of SYNCD_STREAMS
	dialect  string           // "postgres" or "sqlite"
	dsn      string           // the driver's connection string (the file path for SQLite)
	consumer consumer.Options // reader options every stream shares: one HTTP client, one token source
	log      *slog.Logger
}

// file is the parsed SYNCD_CONFIG file (nil without one).
func (p *plan) file() *mapping.File { return p.Config.file }

// plan parses the command's flags over the environment, reads the
// SYNCD_CONFIG file once, validates everything and derives the plan.
// Configuration errors are usageErrors (exit status 2).
func (env *environment) plan(fs *flag.FlagSet, args []string, needStreams bool) (*plan, []string, error) {
	load := env.loadFile
	if load == nil {
		load = mapping.Load
	}
	cfg, rest, err := readConfig(env.environ, fs, args, needStreams, load)
	cfg.redact = env.redactor()
	cfg.secrets(cfg.redact)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, rest, err
		}
		return nil, rest, usageError{err}
	}
	p, err := newPlan(cfg, newLogger(cfg, env.stderr))
	if err != nil {
		return nil, rest, usageError{err}
	}
	return p, rest, nil
}

// newPlan derives the plan from a validated configuration.
func newPlan(cfg Config, log *slog.Logger) (*plan, error) {
	p := &plan{Config: cfg, log: log}
	var err error
	if p.streams, err = cfg.StreamList(); err != nil && !errors.Is(err, errNoStreams) {
		return nil, err
	}
	if p.globs, err = cfg.Globs(); err != nil {
		return nil, err
	}
	if p.dialect, p.dsn, err = parseDatabaseURL(cfg.DatabaseURL); err != nil {
		return nil, err
	}
	p.consumer = cfg.consumerOptions(log)
	return p, nil
}

// redactor returns the redactor of everything this environment prints.
func (env *environment) redactor() *redact.Redactor {
	if env.redact == nil {
		env.redact = redact.New()
	}
	return env.redact
}
