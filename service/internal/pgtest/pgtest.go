// Package pgtest gives tests a real, migrated PostgreSQL database of their
// own. It uses the server at DATABASE_URL when that is set; otherwise it
// starts one throwaway cluster per test binary from the installed server
// binaries. Without either it fails the test: it never skips.
//
// A package that uses it calls pgtest.Main from TestMain so the cluster is
// stopped when the binary exits.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/localpg"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
)

// harness is per test binary: one server, one migrated template database
// that every test's database is cloned from (much faster than migrating).
type harness struct {
	once     sync.Once
	err      error
	server   *localpg.Server
	adminURL string // a URL to a maintenance database with CREATEDB rights
	template string
	counter  atomic.Int64
}

var h harness

// Main runs the package's tests and stops the cluster afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if h.server != nil {
		if err := h.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	if h.adminURL != "" && h.server == nil && h.template != "" {
		dropDatabase(h.adminURL, h.template)
	}
	os.Exit(code)
}

func (h *harness) init() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("DATABASE_URL"); u != "" {
		h.adminURL = u
	} else {
		s, err := localpg.Start(ctx, localpg.Options{Unsafe: true})
		if err != nil {
			h.err = fmt.Errorf("pgtest: no DATABASE_URL and no local cluster: %w", err)
			return
		}
		h.server = s
		h.adminURL = s.URL("postgres")
	}
	h.template = fmt.Sprintf("exchange_tmpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := exec(ctx, h.adminURL, "CREATE DATABASE "+h.template); err != nil {
		h.err = fmt.Errorf("pgtest: create template database: %w", err)
		return
	}
	db, err := sql.Open("pgx", withDatabase(h.adminURL, h.template))
	if err != nil {
		h.err = err
		return
	}
	defer db.Close()
	if _, err := migrate.Up(ctx, db, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		h.err = fmt.Errorf("pgtest: migrate template: %w", err)
	}
}

// URL returns the URL of a fresh, migrated database that is dropped when
// the test ends.
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyURL is URL without migrations: for tests of the migrations themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	h.once.Do(h.init)
	if h.err != nil {
		t.Fatal(h.err)
	}
	name := fmt.Sprintf("%s_t%d", h.template, h.counter.Add(1))
	stmt := "CREATE DATABASE " + name
	if migrated {
		stmt += " TEMPLATE " + h.template
	}
	if err := exec(context.Background(), h.adminURL, stmt); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(h.adminURL, name) })
	return withDatabase(h.adminURL, name)
}

// Open returns a GORM handle on a fresh database (see URL), closed at the end of the test.
func Open(t testing.TB) *gorm.DB {
	t.Helper()
	return OpenURL(t, URL(t))
}

// OpenURL returns a GORM handle on the database at u, closed at the end of the test.
func OpenURL(t testing.TB, u string) *gorm.DB {
	t.Helper()
	db, err := database.Open(context.Background(), config.Database{URL: u, MaxOpenConns: 40, MaxIdleConns: 40, ConnMaxLifetime: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() { database.SQL(db).Close() })
	return db
}

// BinDir is where the server's binaries (pg_dump among them) are; empty
// when the tests use DATABASE_URL.
func BinDir() string {
	if h.server == nil {
		return ""
	}
	return h.server.BinDir()
}

func exec(ctx context.Context, dsn, stmt string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func dropDatabase(adminURL, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, adminURL, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: drop %s: %v\n", name, err)
	}
}

// withDatabase swaps the database name in a postgres:// URL.
func withDatabase(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		panic(fmt.Sprintf("pgtest: DATABASE_URL must be a postgres:// URL, got a %q scheme", u.Scheme))
	}
	u.Path = "/" + db
	return u.String()
}

// Checksums returns an md5 of every table's full content, keyed by table
// name, so a test can prove that a request left the database untouched (or
// that a restore reproduced it exactly).
func Checksums(t testing.TB, db *gorm.DB) map[string]string {
	t.Helper()
	var tables []string
	if err := db.Raw(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`).Scan(&tables).Error; err != nil {
		t.Fatalf("pgtest: list tables: %v", err)
	}
	out := make(map[string]string, len(tables))
	for _, tbl := range tables {
		var sum string
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), 'empty') FROM %q x`, tbl)
		if err := db.Raw(q).Scan(&sum).Error; err != nil {
			t.Fatalf("pgtest: checksum %s: %v", tbl, err)
		}
		out[tbl] = sum
	}
	return out
}
