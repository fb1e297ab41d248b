package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/logtest"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/replica"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testPassword = "correct horse battery staple"

var testSecret = []byte("web-test-secret-key-0123456789abcdef0123")

// exchange is the whole server (HTTP API, pages, a real sequencer and
// market data feed) on a fresh database, as the httpapi tests run it.
type exchange struct {
	t     *testing.T
	db    *gorm.DB
	url   string
	users atomic.Int64
	logs  *logtest.Buffer
}

func newExchange(t *testing.T, mode config.Mode) *exchange {
	t.Helper()
	dbURL := pgtest.URL(t)
	db := pgtest.OpenURL(t, dbURL)
	if err := catalog.Seed(context.Background(), db, catalog.Defaults()); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	cfg := config.Server{Mode: mode, SecretKey: testSecret, RequestTimeout: 30 * time.Second, ShutdownTimeout: 5 * time.Second, WriteTimeout: time.Minute}
	r, err := replica.New(replica.Config{
		DB: db, DatabaseURL: dbURL, Server: cfg, CatalogTTL: time.Second, ElectionRetry: 50 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := r.Start(ctx, "http://127.0.0.1:1")
	t.Cleanup(func() { cancel(); stop() })
	for !r.Sequencer.IsLeader() || !r.Feed.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	srv := r.Server
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &exchange{t: t, db: db, url: ts.URL, logs: logs}
}

// email is a fresh address for a new user.
func (x *exchange) email(role string) string {
	return fmt.Sprintf("%s%d@example.com", role, x.users.Add(1))
}

// admin creates an admin as `exchange create-admin` would.
func (x *exchange) admin() string {
	a, err := auth.New(x.db, nil, time.Now)
	if err != nil {
		x.t.Fatal(err)
	}
	email := x.email("admin")
	if _, err := a.Register(context.Background(), email, testPassword, auth.RoleAdmin); err != nil {
		x.t.Fatal(err)
	}
	return email
}
