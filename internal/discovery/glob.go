// Package discovery finds the streams a glob of SYNCD_STREAMS names by
// tailing the Durable Streams server's registry stream (/v1/stream/__registry__),
// a State Protocol stream of {type: "stream", key: PATH, value: {path,
// contentType, createdAt}} inserts and deletes. The registry's state is kept
// in memory (it is re-read from the start when syncd starts); matching JSON
// streams are reported as added, deleted ones as removed.
package discovery

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// streamPrefix is where the protocol serves streams.
const streamPrefix = "/v1/stream/"

// RegistryPath is the registry stream's path under /v1/stream/.
const RegistryPath = "__registry__"

// Glob is one glob entry of SYNCD_STREAMS: a server and a pattern over
// stream paths (the part after /v1/stream/), where `*` matches one path
// segment (or part of one, as in `room-*`) and `**` any number of segments.
type Glob struct {
	Base    string // scheme://host[:port][prefix], without /v1/stream/
	Pattern string
}

// IsGlob reports whether a SYNCD_STREAMS item is a glob.
func IsGlob(item string) bool { return strings.Contains(item, "*") }

// ParseGlob parses a glob URL such as http://ds:4437/v1/stream/rooms/*.
func ParseGlob(raw string) (Glob, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Glob{}, fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Glob{}, fmt.Errorf("%q must not carry a query or fragment", raw)
	}
	i := strings.Index(u.Path, streamPrefix)
	if i < 0 {
		return Glob{}, fmt.Errorf("%q has no %s in its path: a glob matches stream paths of the registry", raw, streamPrefix)
	}
	pattern := u.Path[i+len(streamPrefix):]
	if pattern == "" {
		return Glob{}, fmt.Errorf("%q has an empty pattern", raw)
	}
	for seg := range strings.SplitSeq(pattern, "/") {
		if seg == "" {
			return Glob{}, fmt.Errorf("%q has an empty path segment", raw)
		}
		if seg != "**" {
			if _, err := path.Match(seg, ""); err != nil {
				return Glob{}, fmt.Errorf("%q: bad pattern segment %q: %w", raw, seg, err)
			}
		}
	}
	base := *u
	base.Path = u.Path[:i]
	base.RawPath = ""
	return Glob{Base: base.String(), Pattern: pattern}, nil
}

// Match reports whether the stream path p matches the glob's pattern.
func (g Glob) Match(p string) bool {
	return match(strings.Split(g.Pattern, "/"), strings.Split(p, "/"))
}

// StreamURL is the URL of the stream at path p on the glob's server.
func (g Glob) StreamURL(p string) string { return g.Base + streamPrefix + p }

// RegistryURL is the URL of the glob's server's registry stream.
func (g Glob) RegistryURL() string { return g.StreamURL(RegistryPath) }

func match(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if match(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 || segs[0] == "" {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
