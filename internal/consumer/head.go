package consumer

import (
	"context"
	"fmt"
	"net/http"
)

// Head asks the server for the stream's tail (HEAD): the offset after its last
// message and whether it is closed. It serves status and lag reporting, never
// reading. client nil means the shared default client; header, if set, adds
// request headers. A non-2xx answer is a *StatusError.
func Head(ctx context.Context, client *http.Client, url string, header func(http.Header)) (nextOffset string, closed bool, err error) {
	opts, err := Options{HTTPClient: client, Header: header}.withDefaults()
	if err != nil {
		return "", false, err
	}
	c, err := send(ctx, opts, opts.IdleTimeout, http.MethodHead, url)
	if err != nil {
		return "", false, fmt.Errorf("HEAD %s: %w", url, err)
	}
	defer c.close()
	if c.resp.StatusCode/100 != 2 {
		return "", false, c.statusError("")
	}
	next := c.resp.Header.Get("Stream-Next-Offset")
	if next == "" {
		return "", false, fmt.Errorf("HEAD %s: response without Stream-Next-Offset", url)
	}
	return next, isTrue(c.resp.Header.Get("Stream-Closed")), nil
}
