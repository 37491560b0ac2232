package mysql

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	driver "github.com/go-sql-driver/mysql"
)

// URLForms names the accepted forms of a MySQL database URL, for errors.
// It spells the password apart so that redaction (which masks any
// scheme://user:secret@) leaves the example readable.
const URLForms = "mysql://user@host:3306/dbname?param=value, with a password user:password@host, or the same with mariadb://"

// forced are the driver parameters syncd relies on; a URL cannot change them.
//   - parseTime, loc=UTC: DATETIME(6) columns scan into time.Time in UTC.
//   - clientFoundRows: an UPDATE that matches a row counts it even when it
//     changes nothing, which the checkpoint compare-and-set relies on.
//   - time_zone '+00:00': NOW() and the DEFAULTs write UTC.
//   - charset utf8mb4: every character JSON may carry.
var forced = map[string]bool{"parseTime": true, "loc": true, "clientFoundRows": true, "time_zone": true, "charset": true}

// ParseURL translates a mysql:// or mariadb:// URL into the driver's
// configuration. Query parameters other than syncd's own (see forced) pass
// through to the driver (tls, timeout, readTimeout, …); interpolateParams
// defaults to true (one round trip a statement). Errors never contain the
// password.
func ParseURL(raw string) (*driver.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return nil, fmt.Errorf("scheme %q is not mysql or mariadb", u.Scheme)
	}
	cfg := driver.NewConfig()
	cfg.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("no host")
	}
	if port == "" {
		port = "3306"
	}
	cfg.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return nil, errors.New("no database name: the path must be /dbname")
	}
	if err := applyParams(cfg, u.Query()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyParams passes the URL's parameters to the driver, then sets syncd's.
func applyParams(cfg *driver.Config, q url.Values) error {
	var pass []string
	for k, vs := range q {
		if forced[k] {
			return fmt.Errorf("parameter %s is set by syncd and cannot be changed", k)
		}
		for _, v := range vs {
			pass = append(pass, k+"="+url.QueryEscape(v))
		}
	}
	if !q.Has("interpolateParams") {
		pass = append(pass, "interpolateParams=true")
	}
	pass = append(pass, "charset=utf8mb4")
	// The driver parses its own parameters; a DSN without credentials keeps
	// the password out of its errors.
	parsed, err := driver.ParseDSN("/?" + strings.Join(pass, "&"))
	if err != nil {
		return fmt.Errorf("driver parameters: %w", err)
	}
	user, passwd, addr, db := cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName
	*cfg = *parsed
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, passwd, "tcp", addr, db
	cfg.ParseTime = true
	cfg.Loc = utc
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	return nil
}
