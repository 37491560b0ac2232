package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/syncd-io/syncd/internal/mapping"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/syncer"
	"github.com/syncd-io/syncd/internal/table"
)

// Precedence between the environment and the SYNCD_CONFIG file: a variable
// set in the environment (or as a flag) wins over the file where both set
// the same thing.
//
//   - Streams are the union of SYNCD_STREAMS and the file's streams, merged
//     by name; for a stream in both, SYNCD_STREAMS's URL wins and the file
//     still gives its on_invalid and types.
//   - A stream's on_invalid in the file overrides the default of
//     SYNCD_ON_INVALID, but not a SYNCD_ON_INVALID that is set: then it
//     applies to every stream.
//   - Likewise a stream's types in the file, and a set SYNCD_TYPES.
//   - Entity types (tables, key scope, columns) come from the file only.

// configFile returns the SYNCD_CONFIG file that loadConfig read; nil when
// unset. It never reads the file again.
func (c Config) configFile() (*mapping.File, error) {
	return c.file, nil
}

// StreamList returns the streams to follow: SYNCD_STREAMS merged with the
// SYNCD_CONFIG file's streams (see the precedence above).
func (c Config) StreamList() ([]StreamSpec, error) {
	env, err := c.envStreams()
	if err != nil {
		return nil, err
	}
	file, err := c.configFile()
	if err != nil {
		return nil, err
	}
	out := env
	if file != nil {
		if out, err = c.mergeFileStreams(env, file); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errNoStreams
	}
	return out, nil
}

// mergeFileStreams adds the file's streams to those of SYNCD_STREAMS.
func (c Config) mergeFileStreams(env []StreamSpec, file *mapping.File) ([]StreamSpec, error) {
	out := append([]StreamSpec(nil), env...)
	index := map[string]int{}
	for i, s := range out {
		index[s.Name] = i
	}
	seen := map[string]int{}
	for i, fs := range file.Streams {
		where := fmt.Sprintf("SYNCD_CONFIG file %s: streams[%d] (line %d)", file.Path, i, fs.Line)
		item := fs.URL
		if fs.Name != "" {
			item = fs.Name + "=" + fs.URL
		}
		spec, err := parseStream(item)
		if se := (*streamError)(nil); errors.As(err, &se) {
			return nil, fmt.Errorf("%s: %s", where, se.problem)
		} else if err != nil {
			return nil, err
		}
		if prev, dup := seen[spec.Name]; dup {
			return nil, fmt.Errorf("%s: stream name %q is also streams[%d]; give one of them a distinct name", where, spec.Name, prev)
		}
		seen[spec.Name] = i
		if !c.explicit["SYNCD_ON_INVALID"] {
			spec.OnInvalid = syncer.Policy(fs.OnInvalid)
		}
		if !c.explicit["SYNCD_TYPES"] {
			spec.Types = fs.Types
		}
		if j, ok := index[spec.Name]; ok {
			spec.URL = out[j].URL // SYNCD_STREAMS wins
			out[j] = spec
			continue
		}
		index[spec.Name] = len(out)
		out = append(out, spec)
	}
	return out, nil
}

// configureSink applies the SYNCD_CONFIG file's entity types to the
// database (a no-op without a file).
func configureSink(ctx context.Context, db sink.Sink, file *mapping.File) error {
	var m table.Mapping
	if file != nil {
		m.Types = file.Types
	}
	if err := db.Configure(ctx, m); err != nil {
		if file != nil {
			err = fmt.Errorf("apply the types of SYNCD_CONFIG file %s: %w", file.Path, err)
		}
		if errors.Is(err, table.ErrConflict) {
			return usageError{err} // a configuration error: exit status 2
		}
		return err
	}
	return nil
}

// pruneTxIDs deletes old rows of syncd_txids in the background (see
// SYNCD_TXID_RETENTION) and returns the function that stops it.
func pruneTxIDs(ctx context.Context, db sink.Sink, retention time.Duration, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		syncer.PruneTxIDs(ctx, db, retention, log)
	}()
	return func() {
		cancel()
		<-done
	}
}
