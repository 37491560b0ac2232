package consumer

import "context"

// Handler receives a stream's responses from Follow. For every response
// Follow calls Begin, then Message for each message in order, then End, or
// Abort if the response broke after Begin (the handler discards what the
// response delivered; Follow reads again from Position()). An error returned
// by a handler method stops Follow and is returned by it unchanged.
//
// Deprecated: kept until the stream loop pulls from Reader; removed then.
type Handler interface {
	Position() Position
	Begin(r Response) error
	Message(m Message) error
	End(r Response) error
	Abort(err error)
}

// Follow reads the stream at streamURL with a Reader, asking h.Position()
// before every response and pushing each response into h, until the stream
// is closed (nil), ctx ends (ctx.Err()), a handler method fails (its error,
// unchanged), or Reader.Next returns an error.
//
// Deprecated: kept until the stream loop pulls from Reader; removed then.
func Follow(ctx context.Context, streamURL string, h Handler, opts Options) error {
	r, err := NewReader(streamURL, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		resp, err := r.Next(ctx, h.Position())
		if err != nil {
			return err
		}
		if err := h.Begin(*resp); err != nil {
			return err
		}
		aborted := false
		for m, err := range resp.Messages(ctx) {
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				h.Abort(err)
				aborted = true
				break
			}
			if err := h.Message(m); err != nil {
				return err
			}
		}
		if aborted {
			continue
		}
		if err := h.End(*resp); err != nil {
			return err
		}
		if resp.Closed {
			return nil
		}
	}
}
