package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/pgtest"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/state"
)

// migrated opens a migrated sink with a checkpoint for stream "s" at "-1".
func migrated(t *testing.T) *postgres.Sink {
	t.Helper()
	s := open(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(t.Context(), "s", "http://x/s", "-1"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNotify(t *testing.T) {
	t.Parallel()
	s := migrated(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN syncd"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *") }()

	b := state.NewBatch()
	b.AddChange(state.Change{Type: "Order", Key: "1", Op: state.Insert, Value: []byte(`{}`), TxID: "tx-9"}, "o1")
	b.AddChange(state.Change{Type: "item", Key: "2", Op: state.Delete}, "o1")
	tx, err := s.Begin(ctx, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, sink.Commit{NextOffset: "o1", UpToDate: true, Events: 2}); err != nil {
		t.Fatal(err)
	}
	// Other tests' schemas notify on the same channel: skip theirs.
	var got postgres.Notification
	var payload string
	for got.Schema != s.Schema() {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n.Channel != "syncd" {
			t.Fatalf("notification on channel %q", n.Channel)
		}
		payload = n.Payload
		got = postgres.Notification{} // Unmarshal keeps fields a previous payload set
		if err := json.Unmarshal([]byte(payload), &got); err != nil {
			t.Fatalf("payload %q: %v", payload, err)
		}
	}
	if got.Stream != "s" || got.Offset != "o1" || got.Truncated ||
		strings.Join(got.Tables, ",") != "item,order" || strings.Join(got.TxIDs, ",") != "tx-9" {
		t.Fatalf("notification: %s", payload)
	}
}

// TestSchemaQuoted: a schema name that needs quoting holds every table, and
// nothing lands in public.
func TestSchemaQuoted(t *testing.T) {
	t.Parallel()
	url, base := pgtest.New(t)
	schema := base + `-We"ird`
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = conn.Close(context.Background())
		}
	})
	s, err := postgres.New(t.Context(), url, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(t.Context(), "s", "u", "-1"); err != nil {
		t.Fatal(err)
	}
	b := state.NewBatch()
	b.AddChange(state.Change{Type: "thing", Key: "k", Op: state.Upsert, Value: []byte(`1`)}, "1")
	tx, err := s.Begin(t.Context(), "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(t.Context(), sink.Commit{NextOffset: "1"}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Pool().Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	// The entity table and syncd's internal tables (whatever later
	// migrations add, all named syncd_*).
	var entity []string
	for _, name := range tables {
		if !strings.HasPrefix(name, "syncd_") {
			entity = append(entity, name)
		}
	}
	got := "," + strings.Join(tables, ",") + ","
	for _, want := range []string{"syncd_checkpoints", "syncd_migrations", "syncd_rejects", "syncd_txids", "syncd_types"} {
		if !strings.Contains(got, ","+want+",") {
			t.Errorf("tables in %q: %s, missing %s", schema, got, want)
		}
	}
	if strings.Join(entity, ",") != "thing" {
		t.Fatalf("tables in %q: %s, want thing as the only entity table", schema, got)
	}
}

func TestNewRejectsBadSchema(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{"", strings.Repeat("s", 64), "a\x00b"} {
		if _, err := postgres.New(t.Context(), "postgres://localhost/x", schema, nil); err == nil {
			t.Errorf("New accepted schema %q", schema)
		}
	}
}
