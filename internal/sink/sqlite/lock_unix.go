//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked says another process runs syncd on the same SQLite file.
var ErrLocked = errors.New("another syncd process is running on this SQLite file")

// LockRunner takes the exclusive lock that makes syncd single-replica on
// SQLite: a flock on PATH.lock, held until the returned release is called or
// the process dies (the kernel drops it, so a crash leaves no stale lock). A
// second `syncd run` on the same file fails at once with ErrLocked instead of
// queueing behind the first one's writes. Readers (`syncd status`) take no lock.
func LockRunner(path string) (release func(), err error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked): SQLite runs a single syncd replica; stop the other process, or use Postgres to run several replicas", ErrLocked, lockPath)
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() { _ = f.Close() }, nil
}

// lockMigrations serializes migrations of the same file across processes
// (goose has no locker for SQLite): two processes starting together would
// otherwise both read version 0 and the second would fail on "table already
// exists". The lock is a blocking flock on PATH.migrate.lock, dropped by the
// kernel if the process dies.
func lockMigrations(path string) (release func(), err error) {
	lockPath := path + ".migrate.lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open migration lock %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return func() { _ = f.Close() }, nil
}
