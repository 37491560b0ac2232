package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// do sends one plain HTTP request for the set-up commands.
func (a *adapter) do(ctx context.Context, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url(path), rd)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp, msg, nil
}

// httpFailure maps a non-2xx answer to the protocol's error codes.
func httpFailure(cmd string, resp *http.Response, msg []byte) errorResult {
	text := resp.Request.Method + " " + resp.Request.URL.Path + ": " + strings.TrimSpace(string(msg))
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fail(cmd, "NOT_FOUND", 404, "stream not found: %s", text)
	case http.StatusConflict:
		switch {
		case strings.EqualFold(resp.Header.Get("Stream-Closed"), "true"):
			return fail(cmd, "STREAM_CLOSED", 409, "stream is closed: %s", text)
		case strings.Contains(strings.ToLower(text), "sequence"):
			return fail(cmd, "SEQUENCE_CONFLICT", 409, "%s", text)
		}
		return fail(cmd, "CONFLICT", 409, "%s", text)
	case http.StatusBadRequest:
		return fail(cmd, "INVALID_OFFSET", 400, "%s", text)
	}
	return fail(cmd, "UNEXPECTED_STATUS", resp.StatusCode, "%s: %s", resp.Status, text)
}

func networkFailure(cmd string, err error) errorResult {
	return fail(cmd, "NETWORK_ERROR", 0, "%v", err)
}

func (a *adapter) create(ctx context.Context, cmd command) any {
	ct := cmd.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	hdr := map[string]string{"Content-Type": ct}
	if cmd.TTLSeconds != nil {
		hdr["Stream-TTL"] = strconv.Itoa(*cmd.TTLSeconds)
	}
	if cmd.ExpiresAt != "" {
		hdr["Stream-Expires-At"] = cmd.ExpiresAt
	}
	if cmd.Closed {
		hdr["Stream-Closed"] = "true"
	}
	for k, v := range cmd.Headers {
		hdr[k] = v
	}
	var body []byte
	if cmd.Data != nil {
		body = []byte(*cmd.Data)
	}
	resp, msg, err := a.do(ctx, http.MethodPut, cmd.Path, body, hdr)
	if err != nil {
		return networkFailure("create", err)
	}
	if resp.StatusCode/100 != 2 {
		return httpFailure("create", resp, msg)
	}
	a.setContentType(cmd.Path, ct)
	return map[string]any{"type": "create", "success": true, "status": resp.StatusCode, "offset": resp.Header.Get("Stream-Next-Offset")}
}

func (a *adapter) connect(ctx context.Context, cmd command) any {
	resp, msg, err := a.do(ctx, http.MethodHead, cmd.Path, nil, cmd.Headers)
	if err != nil {
		return networkFailure("connect", err)
	}
	if resp.StatusCode/100 != 2 {
		return httpFailure("connect", resp, msg)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		a.setContentType(cmd.Path, ct)
	}
	return map[string]any{"type": "connect", "success": true, "status": 200, "offset": resp.Header.Get("Stream-Next-Offset")}
}

// append posts data; on a JSON stream the value is wrapped in an array, as
// the official client does, so that an array value is stored as one message.
func (a *adapter) append(ctx context.Context, cmd command) any {
	ct, ok := a.contentType(cmd.Path)
	if !ok {
		ct = "application/octet-stream"
	}
	var body []byte
	if cmd.Data != nil {
		body = []byte(*cmd.Data)
	}
	if cmd.Binary {
		raw, err := base64.StdEncoding.DecodeString(string(body))
		if err != nil {
			return fail("append", "INVALID_ARGUMENT", 0, "binary data is not base64: %v", err)
		}
		body = raw
	}
	if isJSON(ct) {
		body = append(append([]byte("["), body...), ']')
	}
	hdr := map[string]string{"Content-Type": ct}
	if cmd.Seq != nil {
		hdr["Stream-Seq"] = strconv.FormatInt(*cmd.Seq, 10)
	}
	for k, v := range cmd.Headers {
		hdr[k] = v
	}
	resp, msg, err := a.do(ctx, http.MethodPost, cmd.Path, body, hdr)
	if err != nil {
		return networkFailure("append", err)
	}
	if resp.StatusCode/100 != 2 {
		return httpFailure("append", resp, msg)
	}
	return map[string]any{"type": "append", "success": true, "status": 200, "offset": resp.Header.Get("Stream-Next-Offset")}
}

func (a *adapter) close(ctx context.Context, cmd command) any {
	ct := cmd.ContentType
	if ct == "" {
		ct, _ = a.contentType(cmd.Path)
	}
	hdr := map[string]string{"Stream-Closed": "true"}
	var body []byte
	if cmd.Data != nil {
		body = []byte(*cmd.Data)
		if isJSON(ct) {
			body = append(append([]byte("["), body...), ']')
		}
		if ct != "" {
			hdr["Content-Type"] = ct
		}
	}
	resp, msg, err := a.do(ctx, http.MethodPost, cmd.Path, body, hdr)
	if err != nil {
		return networkFailure("close", err)
	}
	if resp.StatusCode/100 != 2 {
		return httpFailure("close", resp, msg)
	}
	return map[string]any{"type": "close", "success": true, "finalOffset": resp.Header.Get("Stream-Next-Offset")}
}

func (a *adapter) delete(ctx context.Context, cmd command) any {
	resp, msg, err := a.do(ctx, http.MethodDelete, cmd.Path, nil, cmd.Headers)
	if err != nil {
		return networkFailure("delete", err)
	}
	if resp.StatusCode/100 != 2 {
		return httpFailure("delete", resp, msg)
	}
	return map[string]any{"type": "delete", "success": true, "status": resp.StatusCode}
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// headerFunc returns a consumer header hook that adds the command's headers.
func headerFunc(hdr map[string]string) func(http.Header) {
	if len(hdr) == 0 {
		return nil
	}
	return func(h http.Header) {
		for k, v := range hdr {
			h.Set(k, v)
		}
	}
}
