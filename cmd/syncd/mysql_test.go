package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	driver "github.com/go-sql-driver/mysql"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/mysqltest"
	"github.com/syncd-io/syncd/internal/sink/mysql"
)

// forEachBackendAndMySQL runs fn on SQLite and Postgres (forEachBackend)
// and on a fresh MySQL/MariaDB database (mysqltest: skipped loudly when none
// is available, unless SYNCD_TEST_REQUIRE_MYSQL=1).
func forEachBackendAndMySQL(t *testing.T, fn func(t *testing.T, b *backend)) {
	t.Helper()
	forEachBackend(t, fn)
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		fn(t, &backend{name: "mysql", url: mysqltest.New(t), owner: t})
	})
}

// openMySQL connects a plain SQL client to the database of a mysql:// URL.
func openMySQL(t *testing.T, url string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := driver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(conn)
}

func quoteMySQL(ident string) string { return "`" + strings.ReplaceAll(ident, "`", "``") + "`" }

// TestMySQLHostileNames: type names and keys that are SQL keywords, carry
// backticks and quotes, differ only in case, are 200 characters long or
// name syncd's own tables are stored as they are; a key longer than an
// InnoDB index holds is a reject with its reason, and the stream goes on.
func TestMySQLHostileNames(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	b := &backend{name: "mysql", url: mysqltest.New(t), owner: t}
	ctx := context.Background()
	name := "hostile"
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("T", 200)
	var events []any
	for _, typ := range []string{"select", "we`ird", "User", "user", long, strings.ToLower(long), "syncd_checkpoints", "syncd_migrations", "a'; DROP TABLE syncd_types; --"} {
		for _, key := range []string{"select", "we`ird", "K", "k", "k ", "'; DROP TABLE syncd_checkpoints; --", strings.Repeat("鍵", 512)} {
			events = append(events, change(typ, key, "upsert", map[string]any{"type": typ, "key": key}))
		}
	}
	events = append(events, change("select", "we`ird", "delete", nil))
	m := newModel()
	m.apply(t, name, events...)
	tooLong := change("user", strings.Repeat("k", 513), "insert", 1)
	if _, err := srv.Append(ctx, name, append(events, tooLong)...); err != nil {
		t.Fatal(err)
	}
	env := b.env("SYNCD_STREAMS=" + srv.StreamURL(name))
	runOnce(t, env)
	assertTables(t, b, m)
	_, applied, rejects, _ := b.checkpoint(t, name)
	if applied != int64(m.changes) || rejects != 1 {
		t.Fatalf("events_applied=%d rejects=%d, want %d and 1", applied, rejects, m.changes)
	}
	if rj := b.rejects(t, name); len(rj) != 1 || !strings.Contains(rj[0].Reason, "512 characters") {
		t.Fatalf("rejects = %+v", rj)
	}
	var tables int
	if err := b.open(t).QueryRow(`SELECT COUNT(*) FROM syncd_types`).Scan(&tables); err != nil || tables != 9 {
		t.Fatalf("%d types registered (%v), want 9", tables, err)
	}
	// The second run is a no-op.
	offset, _, _, _ := b.checkpoint(t, name)
	runOnce(t, env)
	assertTables(t, b, m)
	if o2, a2, r2, _ := b.checkpoint(t, name); o2 != offset || a2 != applied || r2 != rejects {
		t.Fatalf("second run moved the checkpoint: %s/%d/%d", o2, a2, r2)
	}
}

// TestMySQLURLErrors: a bad mysql:// URL stops startup naming the variable
// and the accepted form, without the password.
func TestMySQLURLErrors(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"mysql://app:hunter2@db:3306/", "mariadb://app:hunter2@db:3306/x?parseTime=false", "mysql://app:hunter2@:3306/x"} {
		code, out := syncdRun(context.Background(), []string{"SYNCD_DATABASE_URL=" + u, "SYNCD_STREAMS=http://x/v1/stream/a"}, "migrate")
		if code == 0 || !strings.Contains(out, "SYNCD_DATABASE_URL") || !strings.Contains(out, "mysql://user@host:3306/dbname") {
			t.Errorf("%s: exit %d\n%s", u, code, out)
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s: the password is in the output:\n%s", u, out)
		}
	}
}
