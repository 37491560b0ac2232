package postgres

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNotifyPayload(t *testing.T) {
	t.Parallel()
	many := make([]string, 3000)
	for i := range many {
		many[i] = strings.Repeat("t", 10) + string(rune('a'+i%26))
	}
	tests := []struct {
		name          string
		tables, txids []string
		truncated     bool
	}{
		{"small", []string{"a"}, []string{"x"}, false},
		{"none", nil, nil, false},
		{"many txids", []string{"a"}, many, true},
		{"many tables", many, many, true},
	}
	for _, tt := range tests {
		p := notifyPayload("syncd", "stream", "0_1", tt.tables, tt.txids)
		if len(p) > maxNotifyPayload {
			t.Errorf("%s: payload of %d bytes", tt.name, len(p))
		}
		var n Notification
		if err := json.Unmarshal([]byte(p), &n); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if n.Truncated != tt.truncated || n.Stream != "stream" || n.Tables == nil || n.TxIDs == nil {
			t.Errorf("%s: %s", tt.name, p)
		}
	}
}
