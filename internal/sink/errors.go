package sink

import "errors"

// ErrConflict means the stream's checkpoint no longer holds the offset the
// writer expected: another writer (a second replica, or a restarted copy of
// this one) advanced it. The writer must roll back, reload the checkpoint and
// continue from there. It is never a reason to retry the same batch.
var ErrConflict = errors.New("checkpoint moved by another writer")

// ErrNotFound means the named stream has no checkpoint.
var ErrNotFound = errors.New("no such stream")
