// Package replicatest runs one whole replica (HTTP API, web pages, a
// leading sequencer and a ready market data feed) on a fresh, seeded test
// database: the server the httpapi and web tests talk to.
package replicatest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/httpserver"
	"github.com/crypto-exchange/exchange/service/internal/logtest"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/replica"
)

// Exchange is a running replica and what a test reads of it.
type Exchange struct {
	DB     *gorm.DB
	Server *httpserver.Server
	URL    string
	// InternalURL serves the internal listener (metrics).
	InternalURL string
	// Logs holds every log line, debug level included.
	Logs *logtest.Buffer
}

// Start serves a replica in mode with secretKey until the test ends; opts
// adjust the server config first. It returns once the replica leads and
// its feed is ready.
func Start(t *testing.T, mode config.Mode, secretKey []byte, opts ...func(*config.Server)) *Exchange {
	t.Helper()
	dbURL := pgtest.URL(t)
	db := pgtest.OpenURL(t, dbURL)
	if err := catalog.Seed(context.Background(), db, catalog.Defaults()); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	cfg := config.Server{Mode: mode, SecretKey: secretKey, RequestTimeout: 30 * time.Second, ShutdownTimeout: 5 * time.Second, WriteTimeout: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
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
	ts := httptest.NewServer(r.Server.Handler())
	t.Cleanup(ts.Close)
	internal := httptest.NewServer(r.Server.InternalHandler())
	t.Cleanup(internal.Close)
	return &Exchange{DB: db, Server: r.Server, URL: ts.URL, InternalURL: internal.URL, Logs: logs}
}
