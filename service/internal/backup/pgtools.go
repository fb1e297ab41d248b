package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Tools runs pg_dump and pg_restore.
type Tools struct {
	// BinDir holds pg_dump and pg_restore; empty means $PATH.
	BinDir string
	// Env is the environment the tools inherit from, usually os.Environ().
	// Only PATH, HOME, TMPDIR, locale, TZ and PG* variables pass through: the
	// tools have no use for the AWS credentials or the service's secrets.
	Env []string
}

func (t Tools) path(tool string) string {
	if t.BinDir == "" {
		return tool
	}
	return filepath.Join(t.BinDir, tool)
}

// command prepares a tool to run against db, whose password travels in
// PGPASSWORD rather than on the command line, where any process on the
// machine could read it.
func (t Tools) command(ctx context.Context, db dbURL, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, t.path(tool), append(args, "--no-password", "--dbname="+db.safe)...)
	cmd.Env = childEnv(t.Env, db.password)
	return cmd
}

func childEnv(base []string, password string) []string {
	var env []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PGPASSWORD" && password != "":
		case name == "PATH", name == "HOME", name == "TMPDIR", name == "TZ", name == "LANG",
			strings.HasPrefix(name, "LC_"), strings.HasPrefix(name, "PG"):
			env = append(env, kv)
		}
	}
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return env
}

// version is a client tool's version, from `tool --version`.
type version struct {
	major int
	full  string
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(\.\d+)*`)

func (t Tools) version(ctx context.Context, tool string) (version, error) {
	cmd := exec.CommandContext(ctx, t.path(tool), "--version")
	cmd.Env = childEnv(t.Env, "")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return version{}, fmt.Errorf("run %s --version: %w", t.path(tool), err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return version{}, fmt.Errorf("%s --version printed %q, not a PostgreSQL version", t.path(tool), bytes.TrimSpace(out))
	}
	major, _ := strconv.Atoi(string(m[1]))
	return version{major: major, full: strings.TrimPrefix(string(m[0]), "(PostgreSQL) ")}, nil
}

// dbURL is a postgres:// URL split for handing to a child process.
type dbURL struct {
	safe     string // the URL without its password
	password string // "" when the URL has none (PGPASSWORD may still supply one)
	name     string // the database name
	host     string // host:port, for messages
}

func parseDBURL(raw string) (dbURL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never echo the URL: it may hold a password.
		return dbURL{}, errors.New("database URL: not a postgres:// URL")
	}
	var d dbURL
	if u.User != nil {
		d.password, _ = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if p := q.Get("password"); p != "" {
		d.password = p
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	d.name = strings.Trim(u.Path, "/")
	if d.name == "" {
		return dbURL{}, errors.New("database URL: names no database")
	}
	d.host = u.Host
	d.safe = u.String()
	return d, nil
}

// withDatabase is raw pointing at another database on the same server.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("database URL: not a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// tail keeps the last bytes written to it: a tool's stderr, for the error
// message, without letting a chatty tool grow our memory.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// String is the kept output on one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " | ")
}

// toolError describes a tool's failure with what it said on stderr.
func toolError(tool string, err error, stderr *tail) error {
	if s := stderr.String(); s != "" {
		return fmt.Errorf("%s failed (%w): %s", tool, err, s)
	}
	return fmt.Errorf("%s failed (%w)", tool, err)
}

// reworded is an error with a rewritten message (secrets hidden, or the
// SDK's wording shortened) that stays inspectable with errors.Is and
// errors.As.
type reworded struct {
	msg string
	err error
}

func (r *reworded) Error() string { return r.msg }
func (r *reworded) Unwrap() error { return r.err }

func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(s), "xxxxx")
			msg = strings.ReplaceAll(msg, url.PathEscape(s), "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &reworded{msg: msg, err: err}
}

// DatabaseName is the database a postgres:// URL names: the directory its
// backups are kept under.
func DatabaseName(rawURL string) (string, error) {
	db, err := parseDBURL(rawURL)
	return db.name, err
}
