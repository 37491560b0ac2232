package main

// Keeps the README's first-stream walkthrough true: the curl commands of the
// section "Create a stream and write events with curl" run against the
// reference server, its syncd commands run in-process, and the output its
// comments promise (sqlite3 rows, an error line) is what they print.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/syncd-io/syncd/internal/dstest"
)

// readmeServer is the address the README's commands use: `make server`'s.
const readmeServer = "http://localhost:4437"

// readmeText returns the README.
func readmeText(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// readmeSection returns the text under the heading whose title is title, up
// to the next heading of the same or a higher level.
func readmeSection(t *testing.T, readme, title string) string {
	t.Helper()
	lines := strings.Split(readme, "\n")
	start, level := -1, 0
	inFence := false
	for i, line := range lines {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		switch {
		case start < 0 && strings.TrimSpace(line[hashes:]) == title:
			start, level = i+1, hashes
		case start >= 0 && hashes <= level:
			return strings.Join(lines[start:i], "\n")
		}
	}
	if start < 0 {
		t.Fatalf("README has no heading %q", title)
	}
	return strings.Join(lines[start:], "\n")
}

// fencedBlocks returns the bodies of the code blocks of language lang.
func fencedBlocks(text, lang string) []string {
	re := regexp.MustCompile("(?ms)^```" + regexp.QuoteMeta(lang) + "\n(.*?)^```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// shellCommand is one command of a shell block and the whole-line comments
// that follow it (the output the README promises).
type shellCommand struct {
	args   []string
	output []string
}

// parseShell splits a shell block into commands: words separated by blanks,
// single- and double-quoted strings (which may span lines), backslash-newline
// continuations and comments. That is all the README's blocks use; anything
// else fails the test rather than being run differently than a shell would.
func parseShell(t *testing.T, block string) []shellCommand {
	t.Helper()
	var cmds []shellCommand
	var cur []string
	var word strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			cur = append(cur, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCommand := func() {
		endWord()
		if len(cur) > 0 {
			cmds = append(cmds, shellCommand{args: cur})
			cur = nil
		}
	}
	for i := 0; i < len(block); i++ {
		c := block[i]
		switch {
		case c == '\\' && i+1 < len(block) && block[i+1] == '\n':
			endWord()
			i++
		case c == '\n':
			endCommand()
		case c == ' ' || c == '\t':
			endWord()
		case c == '#' && !inWord:
			end := strings.IndexByte(block[i:], '\n')
			if end < 0 {
				end = len(block) - i
			}
			comment := strings.TrimSpace(strings.TrimPrefix(block[i:i+end], "#"))
			if len(cur) == 0 && len(cmds) > 0 {
				cmds[len(cmds)-1].output = append(cmds[len(cmds)-1].output, comment)
			}
			i += end - 1
		case c == '\'':
			end := strings.IndexByte(block[i+1:], '\'')
			if end < 0 {
				t.Fatalf("unterminated ' in %q", block[i:])
			}
			word.WriteString(block[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '"':
			end := strings.IndexByte(block[i+1:], '"')
			if end < 0 || strings.ContainsAny(block[i+1:i+1+end], `\$`+"`") {
				t.Fatalf("double-quoted string this parser does not handle in %q", block[i:])
			}
			word.WriteString(block[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case strings.IndexByte("$`|;&<>(){}*?", c) >= 0:
			t.Fatalf("shell syntax %q this test does not run, in %q", c, block)
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endCommand()
	return cmds
}

// readmeRunner runs the README's commands against a reference server, with
// SQLite files in dir.
type readmeRunner struct {
	srv *dstest.Server
	dir string
}

// local rewrites the README's server address and SQLite paths to the test's.
func (r readmeRunner) local(s string) string {
	s = strings.ReplaceAll(s, readmeServer, r.srv.URL)
	if p, ok := strings.CutPrefix(s, "sqlite:"); ok && !filepath.IsAbs(p) {
		s = "sqlite:" + filepath.Join(r.dir, p)
	}
	return s
}

func (r readmeRunner) run(t *testing.T, c shellCommand) (retry func()) {
	t.Helper()
	what := strings.Join(c.args, " ")
	i := 0
	for i < len(c.args) && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(c.args[i]) {
		i++
	}
	switch prog := c.args[i]; {
	case prog == "make":
		// make server / make build: the test has its own server and runs syncd in-process.
		if i != 0 || len(c.args) != 2 || (c.args[1] != "server" && c.args[1] != "build") {
			t.Fatalf("README command %q: only `make server` and `make build` are expected here", what)
		}
	case prog == "curl" && i == 0:
		r.curl(t, c)
	case prog == "sqlite3" && i == 0:
		r.sqlite3(t, c)
	case prog == "bin/syncd":
		environ := []string{"SYNCD_HTTP_ADDR="} // the README's commands may use the default :9090; the test must not
		for _, kv := range c.args[:i] {
			k, v, _ := strings.Cut(kv, "=")
			environ = append(environ, k+"="+r.local(v))
		}
		args := c.args[i+1:]
		exec := func(wantFail bool) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			code, out := syncdRun(ctx, environ, args...)
			if !wantFail {
				if code != 0 {
					t.Fatalf("README command %q exited %d:\n%s", what, code, out)
				}
				return
			}
			if code == 0 {
				t.Fatalf("README command %q: the README shows it failing, but it exited 0:\n%s", what, out)
			}
			for _, line := range c.output {
				if !strings.Contains(out, r.local(line)) {
					t.Errorf("README command %q: output lacks the line the README shows\n  %s\ngot:\n%s", what, line, out)
				}
			}
		}
		exec(len(c.output) > 0)
		if len(c.output) > 0 {
			// The README's remedy follows; the same command must then work.
			return func() { exec(false) }
		}
	default:
		t.Fatalf("README command %q: this test does not know how to run %q", what, prog)
	}
	return nil
}

// curl performs a curl command line with the few options the README uses.
func (r readmeRunner) curl(t *testing.T, c shellCommand) {
	t.Helper()
	what := strings.Join(c.args, " ")
	method, target := "", ""
	var body []byte
	hdr := http.Header{}
	for i := 1; i < len(c.args); i++ {
		a := c.args[i]
		next := func() string {
			i++
			if i == len(c.args) {
				t.Fatalf("%s: %s needs a value", what, a)
			}
			return c.args[i]
		}
		switch a {
		case "-X", "--request":
			method = next()
		case "-H", "--header":
			k, v, ok := strings.Cut(next(), ":")
			if !ok {
				t.Fatalf("%s: bad header", what)
			}
			hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d", "--data", "--data-binary":
			body = []byte(next())
		case "-s", "-i", "-sS", "-si", "-is":
		default:
			if strings.HasPrefix(a, "-") || target != "" {
				t.Fatalf("%s: option %q is not one this test runs", what, a)
			}
			target = r.local(a)
		}
	}
	if method == "" {
		method = map[bool]string{true: http.MethodPost, false: http.MethodGet}[body != nil]
	}
	if body != nil && hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d sends
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("README command %q: %s %s", what, resp.Status, msg)
	}
}

// sqlite3 runs the query of `sqlite3 FILE 'QUERY'` and compares the rows,
// printed as the sqlite3 shell prints them by default (values joined by |),
// with the comment lines that follow it in the README.
func (r readmeRunner) sqlite3(t *testing.T, c shellCommand) {
	t.Helper()
	if len(c.args) != 3 {
		t.Fatalf("README command %q: want sqlite3 FILE 'QUERY'", strings.Join(c.args, " "))
	}
	db, err := sql.Open("sqlite", filepath.Join(r.dir, c.args[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(c.args[2])
	if err != nil {
		t.Fatalf("README query %s: %v", c.args[2], err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var got []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
			case []byte:
				out[i] = string(v)
			default:
				out[i] = fmt.Sprint(v)
			}
		}
		got = append(got, strings.Join(out, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(c.output, "\n") {
		t.Errorf("README query %s\nshows:\n  %s\nbut returns:\n  %s", c.args[2], strings.Join(c.output, "\n  "), strings.Join(got, "\n  "))
	}
}

// TestReadmeFirstStream runs the README's curl walkthrough.
func TestReadmeFirstStream(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join(deployRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^SERVER_PORT \?= 4437$`).Match(mk) || !strings.Contains(string(mk), "--stay") {
		t.Errorf("the README's commands use %s: `make server` must listen there and keep running (SERVER_PORT ?= 4437, --stay)", readmeServer)
	}
	section := readmeSection(t, readmeText(t), "Create a stream and write events with curl")
	blocks := fencedBlocks(section, "sh")
	if len(blocks) < 2 {
		t.Fatalf("want the walkthrough and the byte-stream remedy, found %d sh blocks", len(blocks))
	}
	r := readmeRunner{srv: dstest.StartT(t, dstest.Options{}), dir: t.TempDir()}
	ran := map[string]int{}
	for _, b := range blocks {
		var retries []func()
		for _, c := range parseShell(t, b) {
			ran[c.args[0]]++
			if retry := r.run(t, c); retry != nil {
				retries = append(retries, retry)
			}
		}
		for _, retry := range retries {
			retry()
		}
	}
	if ran["curl"] < 6 || ran["sqlite3"] < 3 {
		t.Errorf("ran %v: the section lost its commands?", ran)
	}
	checkCleanCovers(t, string(mk), r.dir)
	if !strings.Contains(section, "`Content-Type \"application/octet-stream\": not a JSON-mode stream`") {
		// The README quotes syncd's error so a search for it finds the remedy.
		t.Error("the section no longer quotes syncd's byte-stream error")
	}
}

// checkCleanCovers: every file the README's syncd runs left in dir (the
// databases and whatever SQLite and syncd put beside them: -wal, -shm,
// .lock, .migrate.lock) is one `make clean` removes.
func checkCleanCovers(t *testing.T, makefile, dir string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^SQLITE_FILES := \$\(foreach db,(.*)\)$`).FindStringSubmatch(makefile)
	dbs, patterns, ok := "", "", false
	if m != nil {
		dbs, patterns, ok = strings.Cut(m[1], ",")
	}
	if !ok {
		t.Fatal("Makefile: no `SQLITE_FILES := $(foreach db,DBS,PATTERNS)` line for make clean")
	}
	removed := map[string]bool{}
	for _, db := range strings.Fields(dbs) {
		for _, pattern := range strings.Fields(patterns) {
			removed[strings.ReplaceAll(pattern, "$(db)", db)] = true
		}
	}
	if !regexp.MustCompile(`(?m)^clean:.*\n\trm -rf .*\$\(SQLITE_FILES\)`).MatchString(makefile) {
		t.Error("Makefile: clean does not remove $(SQLITE_FILES)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if !removed[e.Name()] {
			left = append(left, e.Name())
		}
	}
	if len(entries) < 4 || len(left) > 0 {
		t.Errorf("the README's runs left %d files; make clean would leave %v", len(entries), left)
	}
}
