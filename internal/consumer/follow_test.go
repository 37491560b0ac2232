package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// recorder is a Handler that keeps what Follow pushes into it.
type recorder struct {
	pos       Position
	pending   []string
	committed []string
	aborts    int
	failAt    string // "Begin", "Message" or "End": that method returns boom
	boom      error
}

func (r *recorder) Position() Position { return r.pos }

func (r *recorder) Begin(Response) error {
	r.pending = nil
	return r.fail("Begin")
}

func (r *recorder) Message(m Message) error {
	r.pending = append(r.pending, string(m.Raw))
	return r.fail("Message")
}

func (r *recorder) End(resp Response) error {
	r.committed = append(r.committed, r.pending...)
	r.pos = Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
	return r.fail("End")
}

func (r *recorder) Abort(error) { r.pending, r.aborts = nil, r.aborts+1 }

func (r *recorder) fail(where string) error {
	if r.failAt == where {
		return r.boom
	}
	return nil
}

// The deprecated Follow adapter still pushes responses into a Handler: it
// aborts a broken response, returns nil at the end of a closed stream, and
// returns a handler's error unchanged.
func TestFollowAdapter(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case n == 0:
			reply(w, 200, "1", false, false, `[1,`) // cut off: aborted, read again
		case r.URL.Query().Get("offset") == "-1":
			reply(w, 200, "1", false, false, `[1,2]`)
		default:
			reply(w, 200, "2", true, true, `[3]`)
		}
	})
	h := &recorder{pos: Position{Offset: "-1"}}
	if err := Follow(context.Background(), fs.URL, h, fastRetry(Options{})); err != nil {
		t.Fatalf("Follow of a closed stream = %v, want nil", err)
	}
	assertMessages(t, h.committed, []string{"1", "2", "3"})
	if h.aborts != 1 {
		t.Errorf("%d aborts, want 1", h.aborts)
	}

	boom := errors.New("boom")
	for _, where := range []string{"Begin", "Message", "End"} {
		h := &recorder{pos: Position{Offset: "a"}, failAt: where, boom: fmt.Errorf("wrapped: %w", boom)}
		if err := Follow(context.Background(), fs.URL, h, Options{}); !errors.Is(err, boom) {
			t.Errorf("%s failing: Follow = %v, want the handler's error", where, err)
		}
	}
}
