// Package redact removes secrets from everything syncd prints: log lines,
// errors, `syncd status`, /readyz and panics all pass through one Redactor,
// which masks credentials it recognises by their form and the literal
// secrets the configuration registered.
package redact

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Mask replaces every secret.
const Mask = "xxxxx"

// MinSecretLen is the shortest registered secret scrubbed as free text: a
// shorter one (a header value "1") would mask unrelated text everywhere.
// Secrets in a recognised form (a URL's password, password=, Bearer) are
// masked whatever their length.
const MinSecretLen = 4

var (
	// userPassword is the password of a URL's user info: scheme://user:PASSWORD@.
	userPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/?#\s:@"']*):[^@/?#\s"']*@`)
	// httpUser is the whole user info of an http(s) URL: on a stream URL
	// even the user name is usually a token (https://TOKEN@host).
	httpUser = regexp.MustCompile(`(?i)(https?://)[^/?#\s@"']+@`)
	// passwordKV is a password-like keyword anywhere: a query parameter or a
	// libpq keyword/value DSN (password=secret, password='se cret').
	passwordKV = regexp.MustCompile(`(?i)(\b[a-z_]*(?:password|passwd|pwd)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'";,]+)`)
	// tokenParam is a token-like parameter of a URL query.
	tokenParam = regexp.MustCompile(`(?i)([?&;][a-z0-9_.-]*(?:token|secret|key|signature|sig|credential|auth)=)[^&#\s"';,]*`)
	// bearer is an Authorization value.
	bearer = regexp.MustCompile(`(?i)\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*`)
)

// Redactor masks secrets. The zero value masks the recognised forms only;
// Add registers literal secrets. It is safe for concurrent use, so a secret
// read later (a rotated token file) can be added while others print.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first, so a secret that contains another wins
}

// New returns a Redactor without literal secrets.
func New() *Redactor { return &Redactor{} }

// Add registers literal secrets to mask wherever they appear; empty ones
// and those shorter than MinSecretLen are ignored.
func (r *Redactor) Add(secrets ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < MinSecretLen || slices.Contains(r.secrets, s) {
			continue
		}
		r.secrets = append(r.secrets, s)
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// AddURL registers the password of a URL (user info or password-like query
// parameter), so that it is masked even where it appears alone.
func (r *Redactor) AddURL(raw string) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return
	}
	if p, ok := u.User.Password(); ok {
		r.Add(p)
	}
	if u.User != nil && (u.Scheme == "http" || u.Scheme == "https") {
		r.Add(u.User.Username()) // on a stream URL, usually a token
	}
	for k, vs := range u.Query() {
		if passwordKV.MatchString(k+"=x") || tokenParam.MatchString("?"+k+"=x") {
			r.Add(vs...)
		}
	}
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r != nil {
		r.mu.RLock()
		for _, secret := range r.secrets {
			s = strings.ReplaceAll(s, secret, Mask)
		}
		r.mu.RUnlock()
	}
	return String(s)
}

// String masks the secrets recognised by their form (no literal secrets):
// the password of a URL's user info and the whole user info of an http(s)
// URL; password, sslpassword, passwd and pwd parameters and libpq keywords;
// token-like query parameters (token, secret, key, signature, sig,
// access_token, api_key…); Bearer and Basic credentials.
func String(s string) string {
	if !strings.ContainsAny(s, "=@") && !strings.Contains(strings.ToLower(s), "bearer") && !strings.Contains(strings.ToLower(s), "basic") {
		return s // the common case: nothing to look for
	}
	s = httpUser.ReplaceAllString(s, "${1}"+Mask+"@")
	s = userPassword.ReplaceAllString(s, "${1}:"+Mask+"@")
	s = passwordKV.ReplaceAllString(s, "${1}"+Mask)
	s = tokenParam.ReplaceAllString(s, "${1}"+Mask)
	s = bearer.ReplaceAllString(s, "${1} "+Mask)
	return s
}
