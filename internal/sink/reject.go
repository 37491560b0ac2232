package sink

import "time"

// RejectRow is a row of syncd_rejects: a message that was dead-lettered.
type RejectRow struct {
	ID             int64
	Stream         string
	ResponseOffset string
	Position       int
	Raw            []byte // the message exactly as received
	Reason         string
	CreatedAt      time.Time
}
