// Package config reads the service's settings from the environment and
// validates them before anything starts, so a typo fails the pod at once with
// a message that names the variable, instead of at the first request.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
)

// Mode decides whether money can appear from nowhere.
type Mode string

const (
	// ModeDemo credits deposits at once: for local runs and demo clusters.
	ModeDemo Mode = "demo"
	// ModeLive records deposits as pending until an admin approves them.
	ModeLive Mode = "live"
)

// Database is what every subcommand that touches Postgres needs.
type Database struct {
	URL             string
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// ReadURL is an optional streaming replica for the reads that tolerate
	// a little lag; ReadMaxLag is how far behind it may be and still serve.
	ReadURL    string
	ReadMaxLag time.Duration
}

// Server is what `serve` needs on top of Database.
type Server struct {
	Addr string
	// InternalAddr serves what only the cluster may reach: metrics and the
	// sequencer's door for other replicas. The Ingress never routes to it.
	InternalAddr string
	// Advertise is the URL other replicas reach this one's internal
	// listener at, to hand commands to the sequencer leader. Empty:
	// derived from the internal listener.
	Advertise       string
	Mode            Mode
	SecretKey       []byte
	SecureCookies   bool
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	// LedgerCheckEvery is how often the leader verifies the ledger.
	LedgerCheckEvery time.Duration
	// ProofSnapshotEvery is how often the leader takes a proof-of-
	// liabilities snapshot; zero (tests that build a Server by hand)
	// takes none but an admin's.
	ProofSnapshotEvery time.Duration
	// ProofRetention is how long a snapshot's leaves and nodes (its
	// traders' proofs) are kept; its root and totals stay for good.
	ProofRetention time.Duration
	// PprofAddr, when set, serves Go's profiler there (keep it on
	// loopback: profiles reveal internals).
	PprofAddr string
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// (the ingress controller's pods). Empty: the TCP peer is the client.
	TrustedProxies []*net.IPNet
	// RateLimits are the request budgets per route class (package
	// ratelimit); nil means none.
	RateLimits ratelimit.Rules
}

// Getenv is os.Getenv's shape; tests pass a map lookup instead.
type Getenv func(string) string

// Error names the variable at fault and what it may be.
type Error struct {
	Var, Value, Allowed string
}

func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s is not set; %s", e.Var, e.Allowed)
	}
	return fmt.Sprintf("%s=%q is invalid; %s", e.Var, e.Value, e.Allowed)
}

type reader struct {
	env Getenv
	err error
	// seen, when set (by the Describe functions), collects every variable
	// read, in order, with its default and range.
	seen *[]Variable
}

// Variable is one environment variable a loader reads, for help texts.
type Variable struct {
	Name, Default, Allowed, Doc string
}

// describing runs load against an empty environment and lists what it
// read: the help text comes from the loader itself, so it cannot drift.
func describing(load func(r *reader)) []Variable {
	var seen []Variable
	load(&reader{env: func(string) string { return "" }, seen: &seen})
	return seen
}

// lookup reads a variable, noting it when describing.
func (r *reader) lookup(name, def, allowed string) string {
	if r.seen != nil && !slices.ContainsFunc(*r.seen, func(v Variable) bool { return v.Name == name }) {
		*r.seen = append(*r.seen, Variable{Name: name, Default: def, Allowed: allowed, Doc: docs[name]})
	}
	return strings.TrimSpace(r.env(name))
}

func (r *reader) fail(name, value, allowed string) {
	if r.err == nil {
		r.err = &Error{Var: name, Value: value, Allowed: allowed}
	}
}

func (r *reader) str(name, def string) string {
	if v := r.lookup(name, def, ""); v != "" {
		return v
	}
	return def
}

func (r *reader) intIn(name string, def, lo, hi int) int {
	raw := r.lookup(name, strconv.Itoa(def), fmt.Sprintf("%d to %d", lo, hi))
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		r.fail(name, raw, fmt.Sprintf("allowed: an integer from %d to %d", lo, hi))
	}
	return n
}

func (r *reader) duration(name string, def, lo, hi time.Duration) time.Duration {
	raw := r.lookup(name, def.String(), fmt.Sprintf("%s to %s", lo, hi))
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < lo || d > hi {
		r.fail(name, raw, fmt.Sprintf("allowed: a Go duration from %s to %s, e.g. %q", lo, hi, def.String()))
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	raw := r.lookup(name, strconv.FormatBool(def), "true or false")
	if raw == "" {
		return def
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.fail(name, raw, "allowed: true or false")
	}
	return b
}

// cidrs reads a comma-separated list of networks.
func (r *reader) cidrs(name string) []*net.IPNet {
	raw := r.lookup(name, "", "comma-separated CIDRs")
	if raw == "" {
		return nil
	}
	var out []*net.IPNet
	for _, part := range strings.Split(raw, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(part))
		if err != nil {
			r.fail(name, raw, `allowed: comma-separated CIDRs, e.g. "10.244.0.0/16,10.0.0.0/8"`)
			return nil
		}
		out = append(out, n)
	}
	return out
}

// LoadDatabase reads DATABASE_URL and the pool settings.
func LoadDatabase(env Getenv) (Database, error) {
	r := &reader{env: env}
	return r.database(), r.err
}

// DescribeDatabase lists the variables LoadDatabase reads.
func DescribeDatabase() []Variable { return describing(func(r *reader) { r.database() }) }

func (r *reader) database() Database {
	open := r.intIn("DB_MAX_OPEN_CONNS", 20, 1, 500)
	db := Database{
		URL:          r.str("DATABASE_URL", ""),
		MaxOpenConns: open,
		// Idle connections are kept up to the whole pool by default: a
		// burst past a smaller idle bound forks new backends only to close
		// them again (docs/performance.md).
		MaxIdleConns:    r.intIn("DB_MAX_IDLE_CONNS", open, 0, 500),
		ConnMaxLifetime: r.duration("DB_CONN_MAX_LIFETIME", 30*time.Minute, time.Minute, 24*time.Hour),
		ReadURL:         r.str("DATABASE_READ_URL", ""),
		ReadMaxLag:      r.duration("DATABASE_READ_MAX_LAG", 5*time.Second, 500*time.Millisecond, time.Hour),
	}
	if db.ReadURL != "" {
		if _, err := pgconn.ParseConfig(db.ReadURL); err != nil {
			// As with DATABASE_URL: the text may hold a password.
			r.fail("DATABASE_READ_URL", "<redacted>", "allowed: empty, or a postgres:// URL of a streaming replica of DATABASE_URL's server")
		}
	}
	if db.URL == "" {
		r.fail("DATABASE_URL", "", "set it to a PostgreSQL URL such as postgres://exchange@db:5432/exchange?sslmode=disable (the password may come from PGPASSWORD)")
	} else if _, err := pgconn.ParseConfig(db.URL); err != nil {
		// The parse error may echo the URL, password included: never print it.
		r.fail("DATABASE_URL", "<redacted>", "allowed: a postgres:// URL or a libpq key=value string")
	}
	if db.MaxIdleConns > db.MaxOpenConns {
		r.fail("DB_MAX_IDLE_CONNS", strconv.Itoa(db.MaxIdleConns), fmt.Sprintf("allowed: at most DB_MAX_OPEN_CONNS (%d)", db.MaxOpenConns))
	}
	return db
}

// LoadServer reads the HTTP server's settings.
func LoadServer(env Getenv) (Server, error) {
	r := &reader{env: env}
	return r.server(), r.err
}

// DescribeServer lists the variables LoadServer reads.
func DescribeServer() []Variable { return describing(func(r *reader) { r.server() }) }

func (r *reader) server() Server {
	s := Server{
		Addr:             r.str("HTTP_ADDR", ":8080"),
		InternalAddr:     r.str("INTERNAL_ADDR", ":9090"),
		Advertise:        r.str("ADVERTISE_URL", ""),
		Mode:             Mode(r.str("EXCHANGE_MODE", string(ModeLive))),
		SecureCookies:    r.boolean("SECURE_COOKIES", true),
		ReadTimeout:      r.duration("HTTP_READ_TIMEOUT", 15*time.Second, time.Second, 10*time.Minute),
		WriteTimeout:     r.duration("HTTP_WRITE_TIMEOUT", 30*time.Second, time.Second, 10*time.Minute),
		IdleTimeout:      r.duration("HTTP_IDLE_TIMEOUT", 120*time.Second, time.Second, time.Hour),
		RequestTimeout:   r.duration("REQUEST_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute),
		ShutdownTimeout:  r.duration("SHUTDOWN_TIMEOUT", 25*time.Second, time.Second, 10*time.Minute),
		LedgerCheckEvery: r.duration("LEDGER_CHECK_INTERVAL", 15*time.Minute, 10*time.Second, 24*time.Hour),
		// Daily, as the exchanges that publish proofs do; an hour at least,
		// since each snapshot holds the batch loop up for a moment.
		ProofSnapshotEvery: r.duration("PROOF_SNAPSHOT_INTERVAL", 24*time.Hour, time.Hour, 30*24*time.Hour),
		ProofRetention:     r.duration("PROOF_RETENTION", 90*24*time.Hour, 24*time.Hour, 10*365*24*time.Hour),
		PprofAddr:          r.str("PPROF_ADDR", ""),
	}
	s.TrustedProxies = r.cidrs("TRUSTED_PROXIES")
	if rules, err := ratelimit.Parse(r.str("RATE_LIMITS", "")); err != nil {
		r.fail("RATE_LIMITS", r.str("RATE_LIMITS", ""), "allowed: off, or overrides like \"orders.user=100/1s:200,signup.ip=50/1h\" ("+err.Error()+")")
	} else {
		s.RateLimits = rules
	}
	if s.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(s.PprofAddr); err != nil {
			r.fail("PPROF_ADDR", s.PprofAddr, `allowed: host:port, e.g. "127.0.0.1:6060"`)
		}
	}
	if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
		r.fail("HTTP_ADDR", s.Addr, `allowed: host:port or :port, e.g. ":8080"`)
	}
	if _, port, err := net.SplitHostPort(s.InternalAddr); err != nil || port == "" {
		r.fail("INTERNAL_ADDR", s.InternalAddr, `allowed: host:port or :port, e.g. ":9090"`)
	} else if s.InternalAddr == s.Addr && port != "0" {
		r.fail("INTERNAL_ADDR", s.InternalAddr, "allowed: an address other than HTTP_ADDR's: the public listener must not serve metrics")
	}
	if s.Advertise != "" {
		if u, err := url.Parse(s.Advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			r.fail("ADVERTISE_URL", s.Advertise, `allowed: http(s)://host:port with no path, e.g. "http://10.1.2.3:8080"`)
		}
	}
	if s.Mode != ModeDemo && s.Mode != ModeLive {
		r.fail("EXCHANGE_MODE", string(s.Mode), "allowed: demo or live")
	}
	key := r.str("SECRET_KEY", "")
	if len(key) < 32 {
		// Never echo a secret, even a short one.
		shown := ""
		if key != "" {
			shown = "<redacted>"
		}
		r.fail("SECRET_KEY", shown, "allowed: at least 32 random bytes, e.g. from `openssl rand -hex 32`")
	}
	s.SecretKey = []byte(key)
	if s.RequestTimeout > s.WriteTimeout {
		r.fail("REQUEST_TIMEOUT", s.RequestTimeout.String(), fmt.Sprintf("allowed: at most HTTP_WRITE_TIMEOUT (%s)", s.WriteTimeout))
	}
	return s
}

// LogLevel reads LOG_LEVEL.
func LogLevel(env Getenv) (slog.Level, error) {
	r := &reader{env: env}
	return r.logLevel(), r.err
}

// DescribeLogLevel lists the variable LogLevel reads.
func DescribeLogLevel() []Variable { return describing(func(r *reader) { r.logLevel() }) }

func (r *reader) logLevel() slog.Level {
	raw := r.lookup("LOG_LEVEL", "info", "debug, info, warn or error")
	var lvl slog.Level
	switch strings.ToLower(raw) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	case "":
		lvl = slog.LevelInfo
	default:
		r.fail("LOG_LEVEL", raw, "allowed: debug, info, warn or error")
	}
	return lvl
}
