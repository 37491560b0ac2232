//go:build !unix

package sqlite

import "errors"

// ErrLocked says another process runs syncd on the same SQLite file.
var ErrLocked = errors.New("another syncd process is running on this SQLite file")

// LockRunner does nothing where flock is unavailable: a second process then
// waits on SQLite's own write lock instead of failing fast.
func LockRunner(path string) (release func(), err error) { return func() {}, nil }

// lockMigrations does nothing where flock is unavailable.
func lockMigrations(path string) (release func(), err error) { return func() {}, nil }
