// Package localpg runs a throwaway PostgreSQL cluster from the server
// binaries installed on the machine. `exchange dev` and the test harness use
// it, so a newcomer and CI need no Docker and no pre-provisioned database.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options tune the cluster. The zero value is a durable cluster in a fresh
// temporary directory on a free port.
type Options struct {
	// Dir keeps the cluster in a directory that survives Stop. Empty means a
	// temporary directory that Stop removes.
	Dir string
	// Port to listen on 127.0.0.1; 0 picks a free one.
	Port int
	// Unsafe turns off fsync and full-page writes: several times faster for
	// tests, and a crash of the machine loses the cluster, which is fine for
	// a throwaway one.
	Unsafe bool
	// Settings are extra `-c name=value` server settings.
	Settings map[string]string
}

// Server is a running cluster.
type Server struct {
	dir       string
	removeDir bool
	dataDir   string
	port      int
	bin       string
	runAs     string
	opts      Options
}

// SuperUser is the cluster's bootstrap role; it needs no password because
// the cluster only listens on 127.0.0.1 with trust authentication.
const SuperUser = "postgres"

// FindBinDir locates a directory holding initdb and pg_ctl: $PATH first, then
// Debian's /usr/lib/postgresql/<major>/bin, newest major first.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found in $PATH or /usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql) or set DATABASE_URL to an existing server")
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises (if needed) and starts a cluster, waiting until it
// accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: opts.Dir, opts: opts}
	// PostgreSQL refuses to run as root; CI and these machines are root, so
	// the server runs as an unprivileged user in a directory that user owns.
	if os.Geteuid() == 0 {
		if s.runAs, err = unprivilegedUser(); err != nil {
			return nil, err
		}
	}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp(tempParent(s.runAs != ""), "exchange-pg-"); err != nil {
			return nil, fmt.Errorf("create cluster dir: %w", err)
		}
		s.removeDir = true
	} else if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}
	if err := s.chownToRunAs(s.dir); err != nil {
		s.cleanup()
		return nil, err
	}
	s.dataDir = filepath.Join(s.dir, "data")
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if _, err := s.run(ctx, "initdb", "-D", s.dataDir, "-U", SuperUser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
			s.cleanup()
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	if err := s.listen(ctx, opts); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

// listen starts the server on opts.Port, or on a free port.
func (s *Server) listen(ctx context.Context, opts Options) error {
	var err error
	for attempt := 0; ; attempt++ {
		s.port = opts.Port
		if s.port == 0 {
			if s.port, err = freePort(); err != nil {
				return err
			}
		}
		err = s.start(ctx, opts)
		// A free port can be taken between probing and binding; try another.
		if err == nil || opts.Port != 0 || attempt == 2 {
			return err
		}
	}
}

// StartReplica makes a streaming replica of s (pg_basebackup, which also
// writes the standby settings; with a fast checkpoint, as the default
// spread one takes minutes) in a temporary directory and starts it on a
// free port. Stop removes it.
func (s *Server) StartReplica(ctx context.Context) (*Server, error) {
	r := &Server{bin: s.bin, runAs: s.runAs, opts: s.opts, removeDir: true}
	var err error
	if r.dir, err = os.MkdirTemp(tempParent(r.runAs != ""), "exchange-pg-replica-"); err != nil {
		return nil, fmt.Errorf("create replica dir: %w", err)
	}
	if err := r.chownToRunAs(r.dir); err != nil {
		r.cleanup()
		return nil, err
	}
	r.dataDir = filepath.Join(r.dir, "data")
	if _, err := r.run(ctx, "pg_basebackup", "-D", r.dataDir, "-h", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-U", SuperUser, "-X", "stream", "-R", "--no-sync", "--checkpoint=fast"); err != nil {
		r.cleanup()
		return nil, fmt.Errorf("pg_basebackup: %w", err)
	}
	opts := s.opts
	opts.Port = 0
	if err := r.listen(ctx, opts); err != nil {
		r.cleanup()
		return nil, err
	}
	return r, nil
}

func (s *Server) start(ctx context.Context, opts Options) error {
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(s.port),
		"unix_socket_directories": s.dir,
		"max_connections":         "200",
	}
	if opts.Unsafe {
		settings["fsync"] = "off"
		settings["full_page_writes"] = "off"
		settings["synchronous_commit"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var o strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&o, " -c %s=%s", k, settings[k])
	}
	logFile := filepath.Join(s.dir, "postgres.log")
	if _, err := s.run(ctx, "pg_ctl", "-D", s.dataDir, "-l", logFile, "-o", o.String(), "-w", "-t", "60", "start"); err != nil {
		tail, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s", s.port, err, lastLines(tail, 10))
	}
	return nil
}

// tempParent is $TMPDIR, unless the server runs as another user who could
// not reach into it (a root-only TMPDIR): then /tmp, which every user can.
func tempParent(otherUser bool) string {
	dir := os.TempDir()
	if !otherUser {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == "/" {
			return dir
		}
	}
}

// Dir is the directory holding the cluster's data and log.
func (s *Server) Dir() string { return s.dir }

// URL is a connection URL for database db as the superuser.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", SuperUser, s.port, db)
}

// Port is the TCP port the cluster listens on.
func (s *Server) Port() int { return s.port }

// BinDir is where the server binaries (and pg_dump beside them) live.
func (s *Server) BinDir() string { return s.bin }

// Stop shuts the cluster down (fast mode: open sessions are disconnected)
// and removes its directory if Start created it.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.run(ctx, "pg_ctl", "-D", s.dataDir, "-m", "fast", "-w", "stop")
	s.cleanup()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w", err)
	}
	return nil
}

func (s *Server) cleanup() {
	if s.removeDir {
		os.RemoveAll(s.dir)
	}
}

func (s *Server) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if s.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	// The server must not inherit a PG* environment meant for clients, nor
	// hold our stdout open after pg_ctl returns.
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C", "LC_ALL=C"}
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%w: %s", err, lastLines(out.Bytes(), 10))
	}
	return out.Bytes(), nil
}

func (s *Server) chownToRunAs(dir string) error {
	if s.runAs == "" {
		return nil
	}
	u, err := user.Lookup(s.runAs)
	if err != nil {
		return fmt.Errorf("look up user %s: %w", s.runAs, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s to %s: %w", dir, s.runAs, err)
	}
	return nil
}

// unprivilegedUser prefers the postgres account Debian's package creates and
// falls back to nobody, which exists on every Debian system.
func unprivilegedUser() (string, error) {
	if _, err := exec.LookPath("runuser"); err != nil {
		return "", errors.New("running as root, and runuser (util-linux) is missing: PostgreSQL cannot run as root")
	}
	for _, name := range []string{"postgres", "nobody"} {
		if _, err := user.Lookup(name); err == nil {
			return name, nil
		}
	}
	return "", errors.New("running as root and neither user postgres nor nobody exists to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Exec runs statements one by one in database db as the superuser: the
// databases and tables a tool needs in a cluster it started.
func (s *Server) Exec(ctx context.Context, db string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// Crash stops the server the way a crash would (pg_ctl's immediate mode:
// no checkpoint, every session cut); Restart brings it back, recovering
// from the WAL, on the same port. For fault tests.
func (s *Server) Crash() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.run(ctx, "pg_ctl", "-D", s.dataDir, "-m", "immediate", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop -m immediate: %w", err)
	}
	return nil
}

// Restart starts a crashed or stopped server again on its port.
func (s *Server) Restart(ctx context.Context) error {
	opts := s.opts
	opts.Port = s.port
	return s.start(ctx, opts)
}

// Pause freezes the server and every session (SIGSTOP): connections stay
// open and nothing answers, as when a machine hangs or a network drops
// packets. Resume lets them run again. For fault tests.
func (s *Server) Pause() error { return s.signalAll(syscall.SIGSTOP) }

// Resume undoes Pause.
func (s *Server) Resume() error { return s.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children.
func (s *Server) signalAll(sig syscall.Signal) error {
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("read postmaster.pid: %w", err)
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	pids := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The parent pid is the fourth field, after the command in parentheses.
		if _, rest, ok := strings.Cut(string(stat), ") "); ok {
			if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				pids = append(pids, child)
			}
		}
	}
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %d: %w", p, err)
		}
	}
	return nil
}
