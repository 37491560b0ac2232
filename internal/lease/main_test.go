package lease_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind (a
// Manager's Run, a connection pool).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
