package discovery

import "testing"

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"rooms/*", "rooms/a", true},
		{"rooms/*", "rooms/a/b", false},
		{"rooms/*", "rooms", false},
		{"rooms/*", "lobby/a", false},
		{"rooms/**", "rooms/a/b/c", true},
		{"rooms/**", "rooms", true},
		{"**", "anything/at/all", true},
		{"**/chat", "t1/rooms/chat", true},
		{"**/chat", "chat", true},
		{"**/chat", "t1/chatter", false},
		{"t/*/doc", "t/x/doc", true},
		{"t/*/doc", "t/x/y/doc", false},
		{"rooms/room-*", "rooms/room-1", true},
		{"rooms/room-*", "rooms/lobby", false},
	}
	for _, c := range cases {
		if got := (Glob{Pattern: c.pattern}).Match(c.path); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.pattern, c.path, got, c.want)
		}
	}
}

func TestParseGlob(t *testing.T) {
	g, err := ParseGlob("http://ds:4437/v1/stream/rooms/*")
	if err != nil {
		t.Fatal(err)
	}
	if g.Base != "http://ds:4437" || g.Pattern != "rooms/*" {
		t.Fatalf("got %+v", g)
	}
	if g.RegistryURL() != "http://ds:4437/v1/stream/__registry__" || g.StreamURL("rooms/a") != "http://ds:4437/v1/stream/rooms/a" {
		t.Fatalf("urls: %s %s", g.RegistryURL(), g.StreamURL("rooms/a"))
	}
	for _, bad := range []string{"ftp://x/v1/stream/*", "http://x/streams/*", "http://x/v1/stream/a//*", "http://x/v1/stream/[*", "http://x/v1/stream/*?a=1"} {
		if _, err := ParseGlob(bad); err == nil {
			t.Errorf("ParseGlob(%q) accepted", bad)
		}
	}
}
