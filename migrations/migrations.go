// Package migrations embeds the SQL migrations that create syncd's internal
// tables, one directory per dialect. The sinks run them with goose.NewProvider;
// goose's version table is named syncd_migrations so syncd can share a
// database with an application that also uses goose.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgresFiles embed.FS

//go:embed sqlite/*.sql
var sqliteFiles embed.FS

//go:embed mysql/*.sql
var mysqlFiles embed.FS

// Postgres holds the Postgres migrations at its root. They create unqualified
// tables: the sink runs them with search_path set to the configured schema.
var Postgres fs.FS = mustSub(postgresFiles, "postgres")

// SQLite holds the SQLite migrations at its root, for the main database of the file.
var SQLite fs.FS = mustSub(sqliteFiles, "sqlite")

// MySQL holds the MySQL/MariaDB migrations at its root, for the database the
// URL names.
var MySQL fs.FS = mustSub(mysqlFiles, "mysql")

// VersionTable is the name of goose's version table in every dialect.
const VersionTable = "syncd_migrations"

func mustSub(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // unreachable: dir is embedded above
	}
	return sub
}
