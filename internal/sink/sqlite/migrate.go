package sqlite

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/syncd-io/syncd/migrations"
)

// Migrate applies the embedded migrations. Within a process it waits for
// the writer mutex; another process migrating the same file at once waits
// on a lock file next to the database (see lockMigrations).
func (s *Sink) Migrate(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	release, err := lockMigrations(s.path)
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	defer release()
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, migrations.SQLite,
		goose.WithTableName(migrations.VersionTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate sqlite %s: %w", s.path, err)
	}
	for _, r := range results {
		s.logger.Info("applied migration", "path", s.path, "version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}
