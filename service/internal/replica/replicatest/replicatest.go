// Package replicatest runs one whole replica (HTTP API, web pages, a
// leading sequencer and a ready market data feed) on a fresh, seeded test
// database: the server the httpapi and web tests talk to. Join starts
// more replicas on the same database, as a Deployment would.
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
	// InternalURL serves the internal listener (metrics, and the
	// sequencer's door, which other replicas forward to).
	InternalURL string
	// Logs holds every log line, debug level included.
	Logs *logtest.Buffer

	dbURL  string
	mode   config.Mode
	secret []byte
	opts   []func(*config.Server)
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
	x := &Exchange{DB: db, dbURL: dbURL, mode: mode, secret: secretKey, opts: opts}
	return x.start(t, true)
}

// Join serves another replica on x's database, with x's settings. It
// returns once the replica's feed is ready; x's replica stays the leader.
func (x *Exchange) Join(t *testing.T) *Exchange {
	t.Helper()
	y := &Exchange{DB: pgtest.OpenURL(t, x.dbURL), dbURL: x.dbURL, mode: x.mode, secret: x.secret, opts: x.opts}
	return y.start(t, false)
}

func (x *Exchange) start(t *testing.T, lead bool) *Exchange {
	t.Helper()
	x.Logs = &logtest.Buffer{}
	cfg := config.Server{Mode: x.mode, SecretKey: x.secret, RequestTimeout: 30 * time.Second, ShutdownTimeout: 5 * time.Second, WriteTimeout: time.Minute}
	for _, o := range x.opts {
		o(&cfg)
	}
	r, err := replica.New(replica.Config{
		DB: x.DB, DatabaseURL: x.dbURL, Server: cfg, CatalogTTL: time.Second, ElectionRetry: 50 * time.Millisecond,
		Log: slog.New(slog.NewJSONHandler(x.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	internal := httptest.NewServer(r.Server.InternalHandler())
	t.Cleanup(internal.Close)
	ctx, cancel := context.WithCancel(context.Background())
	stop := r.Start(ctx, internal.URL)
	t.Cleanup(func() { cancel(); stop() })
	for (lead && !r.Sequencer.IsLeader()) || !r.Feed.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	ts := httptest.NewServer(r.Server.Handler())
	t.Cleanup(ts.Close)
	x.Server, x.URL, x.InternalURL = r.Server, ts.URL, internal.URL
	return x
}
