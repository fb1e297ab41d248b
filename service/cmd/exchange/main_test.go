package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// The tests run the real binary, as Kubernetes and operators do.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exchange-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "exchange")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build exchange: %v\n%s", err, out)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	pgtest.Main(m)
}

type result struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestUsageAndConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no command", nil, nil, "usage: exchange <command>"},
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"serve without a secret", []string{"DATABASE_URL=postgres://h/db"}, []string{"serve"}, "exchange serve: SECRET_KEY is not set"},
		{"serve with a bad mode", []string{"SECRET_KEY=" + strings.Repeat("k", 32), "EXCHANGE_MODE=paper"}, []string{"serve"}, `exchange serve: EXCHANGE_MODE="paper" is invalid; allowed: demo or live`},
		{"migrate without a database", nil, []string{"migrate"}, "exchange migrate: DATABASE_URL is not set"},
		{"bad log level", []string{"LOG_LEVEL=loud"}, []string{"migrate"}, `exchange migrate: LOG_LEVEL="loud" is invalid`},
		{"stray argument", nil, []string{"migrate", "now"}, `exchange migrate: unexpected argument "now"`},
		{"unknown flag", nil, []string{"check-ledger", "--fix"}, "flag provided but not defined: -fix; this command takes no flags"},
		{"unknown flag among flags", nil, []string{"restore", "--newest"}, "allowed: --force, --key, --latest, --target-url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBinary(t, c.env, "", c.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Fatalf("stderr %q lacks %q", r.stderr, c.want)
			}
			if c.args != nil && c.name != "unknown command" && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Fatalf("a config error must be one line, got %q", r.stderr)
			}
		})
	}
}

// `exchange SUB --help` tells an operator the subcommand's flags and the
// environment it reads, with defaults, and exits 0; `exchange version`
// says which build runs.
func TestSubcommandHelpAndVersion(t *testing.T) {
	for sub, want := range map[string][]string{
		"backup":       {"usage: exchange backup", "--prune-older-than", "BACKUP_S3_BUCKET", "BACKUP_PART_SIZE_MB", "(default 8) [5 to 512]", "DATABASE_URL", "GOMEMLIMIT"},
		"serve":        {"SHUTDOWN_TIMEOUT", "(default 25s)", "RATE_LIMITS", "SECRET_KEY", "DB_MAX_OPEN_CONNS", "LOG_LEVEL", "GOGC", "(default 400)", "GOMEMLIMIT"},
		"create-admin": {"--email", "ADMIN_PASSWORD", "DATABASE_URL"},
		"migrate":      {"--seed", "DATABASE_URL"},
	} {
		for _, flag := range []string{"--help", "-h"} {
			r := runBinary(t, nil, "", sub, flag)
			if r.code != 0 {
				t.Fatalf("%s %s: exit %d, stderr %q", sub, flag, r.code, r.stderr)
			}
			for _, w := range want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%s %s lacks %q:\n%s", sub, flag, w, r.stdout)
				}
			}
		}
	}
	r := runBinary(t, nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "exchange ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("version: exit %d, %q", r.code, r.stdout)
	}
}

func TestMigrateCheckLedgerCreateAdmin(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.EmptyURL(t)}
	if r := runBinary(t, env, "", "migrate", "--seed"); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	if r := runBinary(t, env, "", "migrate", "--seed"); r.code != 0 || !strings.Contains(r.stderr, `"applied":0`) {
		t.Fatalf("second migrate must be a no-op: %d %s", r.code, r.stderr)
	}
	r := runBinary(t, env, "a strong admin password\n", "create-admin", "--email", "ops@example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "admin ops@example.com created") {
		t.Fatalf("create-admin: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runBinary(t, append(env, "ADMIN_PASSWORD=another strong one"), "", "create-admin", "--email", "ops@example.com"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate admin: %d %s", r.code, r.stderr)
	}
	r = runBinary(t, env, "", "check-ledger")
	if r.code != 0 || !strings.Contains(r.stdout, "all 8 invariants hold") {
		t.Fatalf("check-ledger on clean books: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// Corrupt the books behind the ledger's back: the check must fail loudly.
	psql(t, env[0], "INSERT INTO balances (account_id, asset, available) VALUES (2, 'BTC', 1)")
	r = runBinary(t, env, "", "check-ledger")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  balances equal the sum of their journal legs") || !strings.Contains(r.stdout, "account 2 BTC") {
		t.Fatalf("check-ledger on corrupt books: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func psql(t *testing.T, urlEnv, stmt string) {
	t.Helper()
	out, err := exec.Command("psql", strings.TrimPrefix(urlEnv, "DATABASE_URL="), "-v", "ON_ERROR_STOP=1", "-c", stmt).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
}

// SIGTERM must let an in-flight request finish, refuse new work, and exit 0.
func TestGracefulShutdown(t *testing.T) {
	shutdown(t, "20s", 2, true)
}

// A request that outlasts SHUTDOWN_TIMEOUT is cut off; the stop is still
// the one asked for, so the exit status is 0.
func TestShutdownDeadlineStillExitsZero(t *testing.T) {
	shutdown(t, "1s", 4, false)
}

// shutdown sends SIGTERM while a withdrawal waits lockSeconds on a row
// lock, with the given SHUTDOWN_TIMEOUT; drains says whether the withdrawal
// finishes within it.
func shutdown(t *testing.T, timeout string, lockSeconds int, drains bool) {
	dbURL := pgtest.URL(t)
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatalf("seed: %s", r.stderr)
	}
	cmd := exec.Command(binary, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "HTTP_ADDR=127.0.0.1:0", "INTERNAL_ADDR=127.0.0.1:0", "RATE_LIMITS=off",
		"SECRET_KEY=" + strings.Repeat("s", 32), "EXCHANGE_MODE=demo", "SECURE_COOKIES=false", "SHUTDOWN_TIMEOUT=" + timeout,
	}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	var base string
	for base == "" {
		select {
		case m := <-lines:
			if m["msg"] == "serving" {
				base = "http://" + m["addr"].(string)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("server did not start")
		}
	}

	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	post := func(path, csrf, body string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		return hc.Do(req)
	}
	mustPost := func(path, csrf, body string) []byte {
		res, err := post(path, csrf, body)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
		}
		return b
	}
	mustPost("/api/v1/auth/register", "", `{"email":"g@example.com","password":"graceful shutdown"}`)
	var login struct {
		CSRFToken string `json:"csrf_token"`
	}
	json.Unmarshal(mustPost("/api/v1/auth/login", "", `{"email":"g@example.com","password":"graceful shutdown"}`), &login)
	mustPost("/api/v1/deposits", login.CSRFToken, `{"asset":"BTC","amount":"1"}`)

	// Hold the user's balance row so the next withdrawal is in flight when
	// SIGTERM arrives.
	lock := exec.Command("psql", dbURL, "-v", "ON_ERROR_STOP=1")
	lockIn, _ := lock.StdinPipe()
	if err := lock.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lockIn, "BEGIN; SELECT * FROM balances WHERE asset = 'BTC' AND account_id <> 1 FOR UPDATE; SELECT pg_sleep(%d); COMMIT;\n", lockSeconds)
	lockIn.Close()
	waitSQL(t, dbURL, "psql holds the balance rows", `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid())`)

	type outcome struct {
		status int
		err    error
	}
	inflight := make(chan outcome, 1)
	go func() {
		res, err := post("/api/v1/withdrawals", login.CSRFToken, `{"asset":"BTC","amount":"0.5","address":"bc1qexampleaddress"}`)
		if err != nil {
			inflight <- outcome{0, err}
			return
		}
		res.Body.Close()
		inflight <- outcome{res.StatusCode, nil}
	}()
	// SIGTERM once the withdrawal's batch waits for those rows.
	waitSQL(t, dbURL, "the withdrawal waits for the locked rows", `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid())`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	refused := false
	for deadline := time.Now().Add(5 * time.Second); !refused && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		refused = err != nil
	}
	if !refused {
		t.Error("new connections were still accepted 5 s after SIGTERM")
	}
	o := <-inflight
	if completed := o.err == nil && o.status == 201; completed != drains {
		t.Fatalf("in-flight withdrawal: status %d, err %v; completes %v, want %v", o.status, o.err, completed, drains)
	}
	lock.Wait()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
	var sawDrain, sawStop, sawCutOff bool
	for m := range lines {
		sawDrain = sawDrain || m["msg"] == "draining"
		sawStop = sawStop || m["msg"] == "stopped"
		sawCutOff = sawCutOff || m["msg"] == "drain timed out; closing the remaining connections"
	}
	if !sawDrain || !sawStop || sawCutOff == drains {
		t.Fatalf("log lines: draining %v, stopped %v, drain timed out %v (want it %v)", sawDrain, sawStop, sawCutOff, !drains)
	}
}

// The README's first command: `exchange dev` must bring up a working
// exchange from nothing and clean up after itself on Ctrl-C.
func TestDev(t *testing.T) {
	cmd := exec.Command(binary, "dev", "--addr", "127.0.0.1:0")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir()}
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	urls := make(chan string, 1)
	var banner strings.Builder
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			banner.WriteString(sc.Text() + "\n")
			if _, rest, ok := strings.Cut(sc.Text(), "is running at "); ok {
				urls <- rest
			}
		}
	}()
	var base string
	select {
	case base = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatalf("dev did not print its URL; stderr:\n%s", stderr.String())
	}
	res, err := http.Get(base + "/api/v1/markets")
	if err != nil {
		t.Fatal(err)
	}
	var markets []struct{ Name string }
	json.NewDecoder(res.Body).Decode(&markets)
	res.Body.Close()
	if len(markets) != 3 {
		t.Fatalf("dev lists %d markets, want BTC-USDT, ETH-USDT, ETH-BTC", len(markets))
	}
	cmd.Process.Signal(os.Interrupt)
	<-readerDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dev exit after Ctrl-C: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(banner.String(), "admin@example.com / ") {
		t.Fatalf("banner lacks the admin credentials:\n%s", banner.String())
	}
	_, after, _ := strings.Cut(banner.String(), "            in ")
	dir, _, _ := strings.Cut(after, " (deleted on exit)")
	if !strings.Contains(dir, "exchange-pg-") {
		t.Fatalf("banner does not say where the data is:\n%s", banner.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dev left its PostgreSQL directory %s behind (%v)", dir, err)
	}
}

// waitSQL polls query (one boolean) through psql until it is true, for up
// to 10 s: the steps of a test that need the database in a given state.
func waitSQL(t *testing.T, dbURL, what, query string) {
	t.Helper()
	waitFor(t, what, 10*time.Second, func() bool {
		out, err := exec.Command("psql", dbURL, "-At", "-c", query).CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "t"
	})
}
