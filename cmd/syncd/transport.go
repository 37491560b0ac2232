package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/redact"
	"github.com/syncd-io/syncd/internal/syncer"
)

// minIdleTimeout is the least SYNCD_SSE_IDLE_TIMEOUT accepted. A value below
// the server's keep-alive interval would drop healthy connections; syncd
// cannot know that interval, so only absurd values are refused here.
const minIdleTimeout = time.Second

// withTransport completes the reader options with the transport settings:
// one HTTP client shared by every stream (trusting SYNCD_TLS_CA_FILE), the
// extra SYNCD_HEADERS on every request, and the idle timeout. The config has
// been validated, so the CA file and headers parse; should the CA file have
// become unreadable since, the error is logged and the system pool is used.
func (c Config) withTransport(o consumer.Options) consumer.Options {
	client, err := c.httpClient()
	if err != nil && o.Logger != nil {
		o.Logger.Error("SYNCD_TLS_CA_FILE unusable; trusting the system pool only", "err", err)
	}
	o.HTTPClient = client
	o.IdleTimeout = c.SSEIdleTimeout
	o.Compression = consumer.Compression(c.HTTPCompression)
	extra, _ := parseHeaders(c.Headers)
	if len(extra) > 0 {
		auth := o.Header
		o.Header = func(h http.Header) {
			for _, kv := range extra {
				h.Set(kv[0], kv[1])
			}
			if auth != nil {
				auth(h) // the rotating token wins over a static header
			}
		}
	}
	return o
}

// validateTransport checks SYNCD_HTTP_COMPRESSION, SYNCD_ON_GONE, SYNCD_TLS_CA_FILE, SYNCD_HEADERS and
// SYNCD_SSE_IDLE_TIMEOUT. Header values never appear in its errors.
func (c Config) validateTransport() []error {
	var errs []error
	if c.HTTPCompression != string(consumer.Gzip) && c.HTTPCompression != string(consumer.None) {
		errs = append(errs, invalid("SYNCD_HTTP_COMPRESSION", c.HTTPCompression, "gzip or none"))
	}
	if c.OnGone != string(syncer.GoneHalt) && c.OnGone != string(syncer.GoneResync) {
		errs = append(errs, invalid("SYNCD_ON_GONE", c.OnGone, "halt or resync"))
	}
	if c.TLSCAFile != "" {
		if _, err := loadCAPool(c.TLSCAFile); err != nil {
			errs = append(errs, invalid("SYNCD_TLS_CA_FILE", c.TLSCAFile, "a readable PEM file of CA certificates, e.g. /etc/syncd/ca.pem", err))
		}
	}
	if _, err := parseHeaders(c.Headers); err != nil {
		errs = append(errs, invalid("SYNCD_HEADERS", redact.Mask, "'Name: value' items separated by newlines or ';', e.g. X-Tenant: acme; X-Api-Key: k", err))
	}
	if c.SSEIdleTimeout < minIdleTimeout {
		errs = append(errs, invalid("SYNCD_SSE_IDLE_TIMEOUT", c.raw("SYNCD_SSE_IDLE_TIMEOUT", c.SSEIdleTimeout.String()), fmt.Sprintf("a duration of at least %s that exceeds the server's keep-alive, e.g. 75s", minIdleTimeout)))
	}
	return errs
}

// httpClient builds the one client every stream reader shares, so that
// connections to the same server are pooled. It sets no overall timeout: a
// catch-up body or an SSE connection legitimately lasts long, and the reader's
// idle watchdog detects dead connections.
func (c Config) httpClient() (*http.Client, error) {
	t := consumer.NewTransport()
	if c.TLSCAFile == "" {
		return &http.Client{Transport: t}, nil
	}
	pool, err := loadCAPool(c.TLSCAFile)
	if err != nil {
		return &http.Client{Transport: t}, err
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// loadCAPool returns the system pool plus the certificates of the PEM file.
func loadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// parseHeaders parses SYNCD_HEADERS: "Name: value" items, one per line, or
// separated by ';' when the variable is a single line. Empty items are
// skipped. Names must be HTTP tokens; Host and the protocol's own headers
// cannot be set. Errors name the item and header, never the value.
func parseHeaders(s string) ([][2]string, error) {
	sep := ";"
	if strings.ContainsAny(s, "\r\n") {
		sep = "\n"
	}
	var out [][2]string
	for i, item := range strings.Split(strings.ReplaceAll(s, "\r", "\n"), sep) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || !validHeaderName(name):
			return nil, fmt.Errorf("item %d is not 'Name: value' with a header name of letters, digits and -", i+1)
		case strings.ContainsAny(value, "\x00\n"):
			return nil, fmt.Errorf("the value of %s contains a control character", name)
		case reservedHeader(name):
			return nil, fmt.Errorf("%s cannot be set: syncd manages it", name)
		}
		out = append(out, [2]string{http.CanonicalHeaderKey(name), value})
	}
	return out, nil
}

func reservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Accept-Encoding", "Upgrade":
		return true
	}
	return false
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
