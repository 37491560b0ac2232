package sink

import (
	"context"
	"log/slog"
)

// deferLog returns a logger whose records are held until flush hands them
// to logger's handler, or drop forgets them: what a transaction did is
// logged only once it committed.
func deferLog(logger *slog.Logger) (*slog.Logger, *heldRecords) {
	held := &heldRecords{}
	return slog.New(&holdingHandler{next: logger.Handler(), held: held}), held
}

// heldRecords are the records of a transaction not yet committed.
type heldRecords struct {
	recs []heldRecord
}

type heldRecord struct {
	h slog.Handler
	r slog.Record
}

// flush logs the held records, in order, and forgets them.
func (h *heldRecords) flush(ctx context.Context) {
	for _, x := range h.recs {
		_ = x.h.Handle(ctx, x.r)
	}
	h.drop()
}

// drop forgets the held records.
func (h *heldRecords) drop() { h.recs = h.recs[:0] }

// holdingHandler holds every record it is given for its heldRecords.
type holdingHandler struct {
	next slog.Handler
	held *heldRecords
}

func (h *holdingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *holdingHandler) Handle(_ context.Context, r slog.Record) error {
	h.held.recs = append(h.held.recs, heldRecord{h: h.next, r: r.Clone()})
	return nil
}

func (h *holdingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &holdingHandler{next: h.next.WithAttrs(attrs), held: h.held}
}

func (h *holdingHandler) WithGroup(name string) slog.Handler {
	return &holdingHandler{next: h.next.WithGroup(name), held: h.held}
}
