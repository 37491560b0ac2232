package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/syncd-io/syncd/internal/dstest"
)

// liveType is the entity type of the live-latency events.
const liveType = "live"

// liveResult is the append → visible latency of one live measurement.
type liveResult struct {
	P50, P99, Max time.Duration
}

// seen records when each live event became visible.
type seen struct {
	mu   sync.Mutex
	at   []time.Time
	left int
	done chan struct{}
}

func newSeen(n int) *seen { return &seen{at: make([]time.Time, n), left: n, done: make(chan struct{})} }

func (s *seen) mark(i int, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.at) || !s.at[i].IsZero() {
		return
	}
	s.at[i] = t
	if s.left--; s.left == 0 {
		close(s.done)
	}
}

// liveEvent is the i-th live event; its txid names it, so that a Postgres
// notification says which events it made visible. Index -1 is the warm-up.
func liveEvent(i int) []byte {
	id := "warm"
	if i >= 0 {
		id = "L" + strconv.Itoa(i)
	}
	return []byte(`[{"type":"` + liveType + `","key":"` + id + `","value":{"n":` + strconv.Itoa(i) +
		`,"text":"live event"},"headers":{"operation":"upsert","txid":"` + id + `"}}]`)
}

// measureLive starts `syncd run` tailing an empty stream in mode (sse or
// long-poll), appends n single-event POSTs at rate per second, and records
// each event's append → row-visible latency: by LISTEN on Postgres (the
// notification is sent at commit and names the txids), by polling on SQLite.
func measureLive(ctx context.Context, bin string, srv *dstest.Server, t target, stream, mode string, n, rate int, pgURL string) (liveResult, error) {
	if err := srv.Create(ctx, stream); err != nil {
		return liveResult{}, err
	}
	defer srv.Delete(context.WithoutCancel(ctx), stream)
	s := newSeen(n + 1) // index n is the warm-up event
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	ready := make(chan struct{})
	if t.dialect == "postgres" {
		go func() { watchErr <- watchNotify(watchCtx, pgURL, t.schema, stream, s, n, ready) }()
	} else {
		close(ready)
		go func() { watchErr <- pollSQLite(watchCtx, t.path, s, n) }()
	}
	<-ready

	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = t.env(srv.StreamURL(stream), "SYNCD_LIVE="+mode)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return liveResult{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	// Warm up: the first event creates the entity table and proves syncd is live.
	if _, err := srv.AppendRaw(ctx, stream, liveEvent(-1)); err != nil {
		return liveResult{}, err
	}
	if err := waitSeen(ctx, s, n, 60*time.Second, watchErr); err != nil {
		return liveResult{}, fmt.Errorf("warm-up event never became visible: %w\n%s", err, stderr.String())
	}

	sent := make([]time.Time, n)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		select {
		case <-ctx.Done():
			return liveResult{}, ctx.Err()
		case <-tick.C:
		}
		sent[i] = time.Now()
		if _, err := srv.AppendRaw(ctx, stream, liveEvent(i)); err != nil {
			return liveResult{}, err
		}
	}
	select {
	case <-s.done:
	case err := <-watchErr:
		return liveResult{}, fmt.Errorf("watch: %v", err)
	case <-time.After(30 * time.Second):
		return liveResult{}, fmt.Errorf("%d of %d live events never became visible\n%s", s.left, n, stderr.String())
	}
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = s.at[i].Sub(sent[i])
	}
	slices.Sort(lat)
	return liveResult{P50: lat[n/2], P99: lat[(n*99)/100], Max: lat[n-1]}, nil
}

// waitSeen waits until the event of index i is visible.
func waitSeen(ctx context.Context, s *seen, i int, timeout time.Duration, watchErr <-chan error) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ok := !s.at[i].IsZero()
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case err := <-watchErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("timed out after %s", timeout)
}

// liveIndex maps a live event's txid to its index in seen (warm-up: warm).
func liveIndex(txid string, warm int) int {
	if txid == "warm" {
		return warm
	}
	if len(txid) > 1 && txid[0] == 'L' {
		if i, err := strconv.Atoi(txid[1:]); err == nil {
			return i
		}
	}
	return -1
}

// watchNotify marks events visible as syncd's commit notifications arrive.
func watchNotify(ctx context.Context, pgURL, schema, stream string, s *seen, warm int, ready chan<- struct{}) error {
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		close(ready)
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "LISTEN syncd")
	close(ready)
	if err != nil {
		return err
	}
	for {
		var note *pgconn.Notification
		note, err = conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		var p struct {
			Schema, Stream string
			TxIDs          []string
			Truncated      bool
		}
		if json.Unmarshal([]byte(note.Payload), &p) != nil || p.Schema != schema || p.Stream != stream {
			continue
		}
		if p.Truncated {
			return fmt.Errorf("notification truncated: cannot tell which events it made visible")
		}
		for _, id := range p.TxIDs {
			s.mark(liveIndex(id, warm), now)
		}
	}
}

// pollSQLite marks events visible by polling the live table every
// millisecond: events are appended and committed in order, so the visible
// rows are always a prefix of them.
func pollSQLite(ctx context.Context, path string, s *seen, warm int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(1000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	marked := 0
	for ctx.Err() == nil {
		var rows int
		// The warm-up row counts too; errors (no table yet) mean nothing is visible.
		if db.QueryRowContext(ctx, `SELECT count(*) FROM "`+liveType+`"`).Scan(&rows) == nil && rows > 0 {
			now := time.Now()
			s.mark(warm, now)
			for ; marked < rows-1; marked++ {
				s.mark(marked, now)
			}
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}
