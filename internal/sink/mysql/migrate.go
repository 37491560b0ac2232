package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/syncd-io/syncd/migrations"
)

// migrateLockTimeout bounds the wait for another replica's migration.
const migrateLockTimeout = 10 * time.Minute

// Migrate applies the embedded migrations. Replicas starting together
// serialize on a user-level lock (GET_LOCK) named after the database, so
// they neither race nor wait on an application's own migrations.
func (s *Sink) Migrate(ctx context.Context) error {
	p, err := goose.NewProvider(goose.DialectMySQL, s.db, migrations.MySQL,
		goose.WithTableName(migrations.VersionTable),
		goose.WithSessionLocker(sessionLocker{name: lockName(s.name, "migrate"), timeout: migrateLockTimeout}),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate mysql: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate mysql database %s: %w", s.name, err)
	}
	for _, r := range results {
		s.logger.Info("applied migration", "database", s.name, "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// sessionLocker is goose's session lock on MySQL and MariaDB: GET_LOCK
// holds a named lock for the connection's session and frees it when the
// session ends, so a crashed migrator never leaves it taken.
type sessionLocker struct {
	name    string
	timeout time.Duration
}

var _ lock.SessionLocker = sessionLocker{}

// SessionLock waits up to the timeout for the lock.
func (l sessionLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, l.name, int(l.timeout.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("take migration lock %s: %w", l.name, err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("take migration lock %s: not granted within %s", l.name, l.timeout)
	}
	return nil
}

// SessionUnlock releases the lock; it runs even when ctx is cancelled.
func (l sessionLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released sql.NullInt64
	if err := conn.QueryRowContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(?)`, l.name).Scan(&released); err != nil {
		return fmt.Errorf("release migration lock %s: %w", l.name, err)
	}
	if released.Int64 != 1 {
		return fmt.Errorf("release migration lock %s: this session did not hold it", l.name)
	}
	return nil
}
