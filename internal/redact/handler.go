package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler wraps h so that every record's message and attributes (nested
// groups, errors and other values included) are redacted before h sees
// them. Attributes bound with WithAttrs are redacted once, when bound.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &handler{inner: h, r: r}
}

type handler struct {
	inner slog.Handler
	r     *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &handler{inner: h.inner.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), r: h.r}
}

// attr redacts one attribute, recursing into groups.
func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]any, len(group))
		for i, g := range group {
			red[i] = h.attr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		return slog.Attr{Key: a.Key, Value: h.anyValue(v)}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// anyValue redacts a value of kind Any: an error or Stringer by its text;
// anything else by how the handler would print it, replaced by a string
// only when that text held a secret.
func (h *handler) anyValue(v slog.Value) slog.Value {
	switch x := v.Any().(type) {
	case nil:
		return v
	case error:
		return slog.StringValue(h.r.String(x.Error()))
	case fmt.Stringer:
		return slog.StringValue(h.r.String(x.String()))
	default:
		s := fmt.Sprint(x)
		if red := h.r.String(s); red != s {
			return slog.StringValue(red)
		}
		return v
	}
}
