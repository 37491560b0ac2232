// Package mysqltest gives tests a MySQL or MariaDB database to write to:
// each test gets a database of its own, dropped when it ends.
//
// The server is SYNCD_TEST_MYSQL_URL when set (e.g.
// mysql://root@127.0.0.1:3306/, no database in the path); otherwise a
// container started with testcontainers-go's MySQL module when a Docker
// engine answers (one per test binary). Without either, tests skip with a
// loud message, unless SYNCD_TEST_REQUIRE_MYSQL=1 (as in CI), which turns
// the skip into a failure.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
)

// Environment variables that choose and require the test server.
const (
	EnvURL          = "SYNCD_TEST_MYSQL_URL"
	EnvRequireMySQL = "SYNCD_TEST_REQUIRE_MYSQL"
)

// image is the server started when none is configured.
const image = "mysql:8.4"

var container struct {
	once sync.Once
	url  string
	err  error
}

// New returns the URL (mysql://…/db) of a fresh database that no other
// test uses; it is dropped with everything in it when the test ends.
func New(t testing.TB) string {
	t.Helper()
	server := serverURL(t)
	name := "syncd_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, server, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("mysqltest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, server, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("mysqltest: drop database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(server)
	u.Path = "/" + name
	return u.String()
}

// serverURL finds a server, or skips or fails the test.
func serverURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := exec(ctx, u, `SELECT 1`); err != nil {
			t.Fatalf("mysqltest: %s is set but the server does not answer: %v", EnvURL, err)
		}
		return u
	}
	container.once.Do(startContainer)
	if container.err != nil {
		msg := fmt.Sprintf("\n\n*** MYSQL/MARIADB TESTS NOT RUN ***\n"+
			"no %s and no Docker engine for testcontainers (%v).\n"+
			"Set %s=mysql://root@127.0.0.1:3306/ to run them.\n", EnvURL, container.err, EnvURL)
		if os.Getenv(EnvRequireMySQL) == "1" {
			t.Fatal(msg + EnvRequireMySQL + "=1: a missing MySQL is a failure.")
		}
		t.Skip(msg)
	}
	return container.url
}

// startContainer starts the per-binary MySQL container.
func startContainer() {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics when no Docker engine is found
			container.err = fmt.Errorf("%v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := tcmysql.Run(ctx, image, tcmysql.WithDatabase("syncd"), tcmysql.WithUsername("root"), tcmysql.WithPassword("syncd"))
	if err != nil {
		container.err = err
		return
	}
	host, err := c.Host(ctx)
	if err != nil {
		container.err = err
		return
	}
	port, err := c.MappedPort(ctx, "3306/tcp")
	if err != nil {
		container.err = err
		return
	}
	container.url = fmt.Sprintf("mysql://root:syncd@%s:%s/", host, port.Port())
}

// exec runs one statement on the server of a mysql:// URL (its database
// path, if any, is ignored).
func exec(ctx context.Context, rawURL, stmt string) error {
	dsn, err := serverDSN(rawURL)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// serverDSN is the driver DSN of a mysql:// URL without its database.
func serverDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "mysql" && u.Scheme != "mariadb") {
		return "", fmt.Errorf("%s must be mysql://user:password@host:port/", EnvURL)
	}
	auth := ""
	if u.User != nil {
		pw, _ := u.User.Password()
		auth = u.User.Username()
		if pw != "" {
			auth += ":" + pw
		}
		auth += "@"
	}
	host := u.Host
	if !strings.Contains(host, ":") {
		host += ":3306"
	}
	return auth + "tcp(" + host + ")/", nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
