// Package pgtest gives tests a Postgres to write to: each test gets a schema
// of its own, dropped when it ends.
//
// The server is SYNCD_TEST_DATABASE_URL when set; otherwise a Postgres on
// 127.0.0.1:5432 that takes user postgres with trust auth; otherwise a container
// started with testcontainers-go when a Docker engine answers (one per test
// binary, removed by testcontainers' reaper). Without either, tests skip with
// a loud message, unless SYNCD_TEST_REQUIRE_POSTGRES=1 (as in CI), which
// turns the skip into a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// Environment variables that choose and require the test server.
const (
	EnvDatabaseURL     = "SYNCD_TEST_DATABASE_URL"
	EnvRequirePostgres = "SYNCD_TEST_REQUIRE_POSTGRES"
)

// image is the Postgres image started when no server is configured.
const image = "postgres:16-alpine"

var container struct {
	once sync.Once
	url  string
	err  error
}

// New returns the URL of a Postgres server and the name of a fresh schema
// that no other test uses. The schema does not exist yet (a sink's Migrate
// creates it); it is dropped with everything in it when the test ends.
func New(t testing.TB) (databaseURL, schema string) {
	t.Helper()
	databaseURL = serverURL(t)
	schema = "syncd_test_" + randomHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, databaseURL, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return databaseURL, schema
}

// serverURL finds a server, or skips or fails the test.
func serverURL(t testing.TB) string {
	t.Helper()
	if url := os.Getenv(EnvDatabaseURL); url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := exec(ctx, url, `SELECT 1`); err != nil {
			t.Fatalf("pgtest: %s is set but Postgres does not answer: %v", EnvDatabaseURL, err)
		}
		return url
	}
	if local.once.Do(findLocal); local.url != "" {
		return local.url
	}
	container.once.Do(startContainer)
	if container.err != nil {
		msg := fmt.Sprintf("\n\n*** POSTGRES TESTS NOT RUN ***\n"+
			"no %s and no Docker engine for testcontainers (%v).\n"+
			"Set %s=postgres://... to run them.\n", EnvDatabaseURL, container.err, EnvDatabaseURL)
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatal(msg + EnvRequirePostgres + "=1: a missing Postgres is a failure.")
		}
		t.Skip(msg)
	}
	return container.url
}

// localURL is a Postgres on this machine with trust auth, as development
// machines and CI here have: used when SYNCD_TEST_DATABASE_URL is unset and
// it answers, before trying a container.
const localURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var local struct {
	once sync.Once
	url  string
}

// findLocal sets local.url when localURL answers.
func findLocal() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if exec(ctx, localURL, `SELECT 1`) == nil {
		local.url = localURL
	}
}

// startContainer starts the per-binary Postgres container.
func startContainer() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, image,
		tcpostgres.WithDatabase("syncd"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		container.err = err
		return
	}
	container.url, container.err = c.ConnectionString(ctx, "sslmode=disable")
}

// exec runs one statement on a connection of its own.
func exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
