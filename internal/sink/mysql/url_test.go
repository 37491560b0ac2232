package mysql

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	cfg, err := ParseURL("mariadb://app:s3cr%40t@db.example:3307/syncd?tls=skip-verify&timeout=5s&readTimeout=7s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "app" || cfg.Passwd != "s3cr@t" || cfg.Addr != "db.example:3307" || cfg.DBName != "syncd" {
		t.Fatalf("config = %+v", cfg)
	}
	if !cfg.ParseTime || !cfg.ClientFoundRows || cfg.Loc != time.UTC || !cfg.InterpolateParams || cfg.Params["time_zone"] != "'+00:00'" {
		t.Fatalf("syncd's parameters not set: %+v", cfg)
	}
	if cfg.TLSConfig != "skip-verify" || cfg.Timeout != 5*time.Second || cfg.ReadTimeout != 7*time.Second {
		t.Fatalf("driver parameters did not pass through: %+v", cfg)
	}
	if cfg, err := ParseURL("mysql://root@localhost/db"); err != nil || cfg.Addr != "localhost:3306" || cfg.Passwd != "" {
		t.Fatalf("default port: %+v, %v", cfg, err)
	}
}

func TestParseURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"mysql://u:hunter2@host:3306/",                        // no database
		"mysql://u:hunter2@:3306/db",                          // no host
		"mysql://u:hunter2@host:3306/db?parseTime=false",      // syncd's own
		"mysql://u:hunter2@host:3306/db?interpolateParams=xx", // bad driver value
		"postgres://u:hunter2@host/db",
		"mysql://u:hunter2@host:port/db",
	} {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("%s: accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", raw, err)
		}
	}
}

func TestVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"8.0.19": true, "8.0.18": false, "8.4.3": true, "9.1.0": true, "5.7.44-log": false, "8.0.36-0ubuntu": true} {
		if versionAtLeast(v, 8, 0, 19) != want {
			t.Errorf("%s >= 8.0.19: want %v", v, want)
		}
	}
}

func TestJSONDepth(t *testing.T) {
	for v, want := range map[string]int{`1`: 0, `[]`: 1, `{"a":[{}]}`: 3, `"[[[["`: 0, `["\"[[", [[]]]`: 3, `{"a":"\\"}`: 1} {
		if got := jsonDepth([]byte(v)); got != want {
			t.Errorf("jsonDepth(%s) = %d, want %d", v, got, want)
		}
	}
}
