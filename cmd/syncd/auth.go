package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/syncd-io/syncd/internal/redact"
)

// tokenSource supplies the bearer token for every request. With a file it
// re-reads the file whenever its modification time or size changes, so a
// rotated Kubernetes secret (an atomic symlink swap) takes effect on the next
// request without a restart. The token itself is never logged.
type tokenSource struct {
	static string
	path   string
	log    *slog.Logger
	redact *redact.Redactor // learns each token read from the file

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

func newTokenSource(static, path string, log *slog.Logger, r *redact.Redactor) *tokenSource {
	return &tokenSource{static: static, path: path, log: log, redact: r}
}

// header sets Authorization on h when a token is configured.
func (s *tokenSource) header(h http.Header) {
	if tok := s.current(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
}

func (s *tokenSource) current() string {
	if s.path == "" {
		return s.static
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if err != nil {
		s.log.Warn("cannot read SYNCD_AUTH_TOKEN_FILE; keeping the last token", "path", s.path, "err", err)
		return s.token
	}
	if fi.ModTime().Equal(s.modTime) && fi.Size() == s.size && s.token != "" {
		return s.token
	}
	raw, err := os.ReadFile(s.path)
	if err != nil {
		s.log.Warn("cannot read SYNCD_AUTH_TOKEN_FILE; keeping the last token", "path", s.path, "err", err)
		return s.token
	}
	tok := string(bytes.TrimSpace(raw))
	s.redact.Add(tok)
	if s.token != "" && tok != s.token {
		s.log.Info("auth token file changed; using the new token", "path", s.path)
	}
	s.token, s.modTime, s.size = tok, fi.ModTime(), fi.Size()
	return s.token
}
