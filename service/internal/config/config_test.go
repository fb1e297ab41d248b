package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Getenv { return func(k string) string { return m[k] } }

const goodKey = "0123456789abcdef0123456789abcdef"

func TestLoadServerDefaults(t *testing.T) {
	s, err := LoadServer(envOf(map[string]string{"SECRET_KEY": goodKey}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != ":8080" || s.InternalAddr != ":9090" || s.Mode != ModeLive || !s.SecureCookies || s.ShutdownTimeout != 25*time.Second || s.TrustedProxies != nil {
		t.Fatalf("unexpected defaults: %+v", s)
	}
}

func TestLoadDatabase(t *testing.T) {
	// The idle bound follows the pool unless it is set.
	db, err := LoadDatabase(envOf(map[string]string{"DATABASE_URL": "postgres://u@localhost:5432/x", "DB_MAX_OPEN_CONNS": "40"}))
	if err != nil || db.MaxOpenConns != 40 || db.MaxIdleConns != 40 {
		t.Fatalf("%+v %v", db, err)
	}
	db, err = LoadDatabase(envOf(map[string]string{"DATABASE_URL": "postgres://u@localhost:5432/x", "DB_MAX_OPEN_CONNS": "5", "DB_MAX_IDLE_CONNS": "2"}))
	if err != nil || db.MaxOpenConns != 5 || db.MaxIdleConns != 2 {
		t.Fatalf("%+v %v", db, err)
	}
}

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		load func(Getenv) error
		want string
	}{
		{"missing database url", map[string]string{}, loadDB,
			"DATABASE_URL is not set; set it to a PostgreSQL URL"},
		{"malformed database url hides its text", map[string]string{"DATABASE_URL": "postgres://u:hunter2@host:notaport/db"}, loadDB,
			`DATABASE_URL="<redacted>" is invalid; allowed: a postgres:// URL or a libpq key=value string`},
		{"pool out of range", map[string]string{"DATABASE_URL": "postgres://h/db", "DB_MAX_OPEN_CONNS": "0"}, loadDB,
			`DB_MAX_OPEN_CONNS="0" is invalid; allowed: an integer from 1 to 500`},
		{"idle above open", map[string]string{"DATABASE_URL": "postgres://h/db", "DB_MAX_OPEN_CONNS": "5", "DB_MAX_IDLE_CONNS": "6"}, loadDB,
			`DB_MAX_IDLE_CONNS="6" is invalid; allowed: at most DB_MAX_OPEN_CONNS (5)`},
		{"lifetime not a duration", map[string]string{"DATABASE_URL": "postgres://h/db", "DB_CONN_MAX_LIFETIME": "forever"}, loadDB,
			`DB_CONN_MAX_LIFETIME="forever" is invalid; allowed: a Go duration from 1m0s to 24h0m0s, e.g. "30m0s"`},
		{"bad mode", map[string]string{"SECRET_KEY": goodKey, "EXCHANGE_MODE": "paper"}, loadServer,
			`EXCHANGE_MODE="paper" is invalid; allowed: demo or live`},
		{"bad addr", map[string]string{"SECRET_KEY": goodKey, "HTTP_ADDR": "8080"}, loadServer,
			`HTTP_ADDR="8080" is invalid; allowed: host:port or :port, e.g. ":8080"`},
		{"bad internal addr", map[string]string{"SECRET_KEY": goodKey, "INTERNAL_ADDR": "9090"}, loadServer,
			`INTERNAL_ADDR="9090" is invalid; allowed: host:port or :port, e.g. ":9090"`},
		{"internal addr is the public one", map[string]string{"SECRET_KEY": goodKey, "HTTP_ADDR": ":8080", "INTERNAL_ADDR": ":8080"}, loadServer,
			`INTERNAL_ADDR=":8080" is invalid; allowed: an address other than HTTP_ADDR's`},
		{"bad trusted proxy", map[string]string{"SECRET_KEY": goodKey, "TRUSTED_PROXIES": "10.0.0.0/8,10.1.2.3"}, loadServer,
			`TRUSTED_PROXIES="10.0.0.0/8,10.1.2.3" is invalid; allowed: comma-separated CIDRs`},
		{"bad rate limit", map[string]string{"SECRET_KEY": goodKey, "RATE_LIMITS": "orders.user=fast"}, loadServer,
			`RATE_LIMITS="orders.user=fast" is invalid; allowed: off, or overrides like`},
		{"unknown rate limit class", map[string]string{"SECRET_KEY": goodKey, "RATE_LIMITS": "trading.user=10/1s"}, loadServer,
			`RATE_LIMITS="trading.user=10/1s" is invalid; allowed: off, or overrides like`},
		{"missing secret", map[string]string{}, loadServer,
			"SECRET_KEY is not set; allowed: at least 32 random bytes"},
		{"short secret is not echoed", map[string]string{"SECRET_KEY": "short"}, loadServer,
			`SECRET_KEY="<redacted>" is invalid; allowed: at least 32 random bytes`},
		{"bad bool", map[string]string{"SECRET_KEY": goodKey, "SECURE_COOKIES": "yes please"}, loadServer,
			`SECURE_COOKIES="yes please" is invalid; allowed: true or false`},
		{"request timeout above write timeout", map[string]string{"SECRET_KEY": goodKey, "REQUEST_TIMEOUT": "1m"}, loadServer,
			`REQUEST_TIMEOUT="1m0s" is invalid; allowed: at most HTTP_WRITE_TIMEOUT (30s)`},
		{"bad log level", map[string]string{"LOG_LEVEL": "verbose"}, func(e Getenv) error { _, err := LogLevel(e); return err },
			`LOG_LEVEL="verbose" is invalid; allowed: debug, info, warn or error`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.load(envOf(c.env))
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error = %q\nwant prefix %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "short\"") {
				t.Fatalf("error leaks a secret: %q", err)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	lvl, err := LogLevel(envOf(map[string]string{"LOG_LEVEL": "WARN"}))
	if err != nil || lvl != slog.LevelWarn {
		t.Fatalf("%v %v", lvl, err)
	}
}

func loadDB(e Getenv) error     { _, err := LoadDatabase(e); return err }
func loadServer(e Getenv) error { _, err := LoadServer(e); return err }

// Every variable a loader reads is documented for --help, and the
// documentation names no variable that nothing reads.
func TestEveryVariableIsDocumented(t *testing.T) {
	read := map[string]bool{}
	for _, vars := range [][]Variable{DescribeDatabase(), DescribeServer(), DescribeLogLevel(), DescribeBackup()} {
		for _, v := range vars {
			read[v.Name] = true
			if v.Doc == "" {
				t.Errorf("%s is read but not documented in docs.go", v.Name)
			}
		}
	}
	for name := range docs {
		if !read[name] {
			t.Errorf("docs.go documents %s, which no loader reads", name)
		}
	}
	if len(read) < 30 {
		t.Fatalf("only %d variables described: the describing reader missed some", len(read))
	}
}
