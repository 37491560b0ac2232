package postgres

import "encoding/json"

// maxNotifyPayload keeps the notification under Postgres's 8000-byte limit.
const maxNotifyPayload = 7900

// Notification is the JSON payload syncd sends on the "syncd" channel with
// every commit, inside the committing transaction, so a listener that
// receives it can already read the rows.
type Notification struct {
	// Schema tells apart syncd instances sharing a database (the channel
	// is database-wide).
	Schema string   `json:"schema"`
	Stream string   `json:"stream"`
	Offset string   `json:"offset"`
	Tables []string `json:"tables"` // entity tables written, sorted
	TxIDs  []string `json:"txids"`  // txids committed
	// Truncated says tables or txids were cut to fit Postgres's payload
	// limit; syncd_txids still holds every txid.
	Truncated bool `json:"truncated,omitempty"`
}

// notifyPayload encodes the notification, dropping trailing txids and then
// tables until it fits.
func notifyPayload(schema, stream, offset string, tables, txids []string) string {
	n := Notification{Schema: schema, Stream: stream, Offset: offset, Tables: []string{}, TxIDs: []string{}}
	size := jsonLen(n) + len(`,"truncated":true`)
	if size > maxNotifyPayload { // absurdly long stream name or offset
		n.Truncated = true
		n.Schema, n.Stream, n.Offset = "", "", ""
		return string(mustJSON(n))
	}
	n.Tables, size = fit(tables, size, &n.Truncated)
	n.TxIDs, _ = fit(txids, size, &n.Truncated)
	return string(mustJSON(n))
}

// fit returns the longest prefix of items that keeps size within the limit,
// and the new size.
func fit(items []string, size int, truncated *bool) ([]string, int) {
	if items == nil {
		items = []string{}
	}
	for i, it := range items {
		add := jsonLen(it) + 1 // the comma
		if size+add > maxNotifyPayload {
			*truncated = true
			return items[:i], size
		}
		size += add
	}
	return items, size
}

func jsonLen(v any) int { return len(mustJSON(v)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and slices of strings always marshal
	}
	return b
}
