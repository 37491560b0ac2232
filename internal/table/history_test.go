package table

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryName(t *testing.T) {
	if got := HistoryName("message"); got != "message_history" {
		t.Fatalf("HistoryName(message) = %q", got)
	}
	exact := strings.Repeat("a", MaxName-len("_history"))
	if got := HistoryName(exact); got != exact+"_history" {
		t.Fatalf("a name that just fits was changed: %q", got)
	}
	long1, long2 := strings.Repeat("b", 60)+"x", strings.Repeat("b", 60)+"y"
	h1, h2 := HistoryName(long1), HistoryName(long2)
	for _, h := range []string{h1, h2} {
		if len(h) > MaxName || !strings.HasSuffix(h, "_history") || CheckIdentifier(h) != nil {
			t.Fatalf("long history name %q (%d bytes) is not a valid name ending in _history", h, len(h))
		}
	}
	if h1 == h2 {
		t.Fatalf("two long tables share history table %q", h1)
	}
	if HistoryName(long1) != h1 {
		t.Fatal("HistoryName is not deterministic")
	}
}

func TestValidateHistoryAndDeletes(t *testing.T) {
	ok := TypeMapping{Type: "m", History: true, HistoryRetention: time.Hour, Deletes: DeletesSoft}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid mapping refused: %v", err)
	}
	for _, c := range []struct {
		m    TypeMapping
		want string
	}{
		{TypeMapping{Type: "m", Deletes: "archive"}, `deletes: "archive" is not hard or soft`},
		{TypeMapping{Type: "m", HistoryRetention: time.Hour}, "history_retention: set without history: true"},
		{TypeMapping{Type: "m", History: true, HistoryRetention: -time.Hour}, "history_retention: -1h0m0s is negative"},
		{TypeMapping{Type: "m", Columns: []Column{{Name: "deleted_at", Path: "x", Type: Text}}}, "soft deletes"},
	} {
		err := c.m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `type "m"`) {
			t.Errorf("%+v: got %v, want an error naming type m and containing %q", c.m, err, c.want)
		}
	}
}
