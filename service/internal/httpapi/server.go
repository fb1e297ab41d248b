// Package httpapi is the exchange's HTTP face: the JSON API of
// api/openapi.yaml, health and metrics endpoints, and the middleware every
// request passes through.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
	"github.com/crypto-exchange/exchange/service/internal/web"
)

// MaxBodyBytes is the contract's request body limit.
const MaxBodyBytes = 64 << 10

const wsPath = "/api/v1/ws"

// Deps are what the server is built from.
type Deps struct {
	DB        *gorm.DB
	Auth      *auth.Service
	Wallet    *wallet.Service
	Catalog   *catalog.Cache
	Sequencer *sequencer.Client
	Feed      *marketdata.Feed
	Config    config.Server
	Log       *slog.Logger
	Registry  *prometheus.Registry
	Now       func() time.Time
}

// Server is the configured HTTP application.
type Server struct {
	Deps
	echo          *echo.Echo
	metrics       *httpMetrics
	draining      atomic.Bool
	now           func() time.Time
	log           *slog.Logger
	internalToken string
}

// New wires middleware and routes.
func New(d Deps) *Server {
	s := &Server{Deps: d, now: d.Now, log: d.Log, internalToken: sequencer.InternalToken(d.Config.SecretKey)}
	s.metrics = newHTTPMetrics(d.Registry)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// Behind the ingress controller the client address is in
	// X-Forwarded-For; only private-network proxies are trusted to set it.
	e.IPExtractor = echo.ExtractIPFromXFFHeader()
	e.Use(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: func() string { return newRequestID() }}),
		s.logRequest,
		s.recoverPanics,
		middleware.BodyLimit("64K"),
		// The CSP's img-src allows data: for the inline PNG of the two-factor QR code.
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0", // the legacy XSS auditor is itself a risk; CSP replaces it
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			HSTSMaxAge:            hstsMaxAge(d.Config.SecureCookies),
			ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			ReferrerPolicy:        "same-origin",
		}),
		middleware.GzipWithConfig(middleware.GzipConfig{
			Level:     5,
			MinLength: 1024,
			// Only reads are worth it: a mutation answers a small body, and
			// resetting a gzip writer costs more than sending it (measured:
			// a quarter of the CPU under order load). promhttp compresses
			// itself; a WebSocket is not a response body.
			Skipper: func(c echo.Context) bool {
				return c.Request().Method != http.MethodGet || c.Path() == "/metrics" || c.Path() == wsPath
			},
		}),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
			Timeout: d.Config.RequestTimeout,
			Skipper: func(c echo.Context) bool { return c.Path() == wsPath }, // lives as long as the client stays
		}),
	)
	s.echo = e
	s.routes()
	return s
}

func hstsMaxAge(secure bool) int {
	if secure {
		return 365 * 24 * 3600
	}
	return 0
}

// Handler is the server as an http.Handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists every registered method and path, for the spec test.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})))

	v1 := e.Group("/api/v1")
	v1.GET("/assets", s.listAssets)
	v1.GET("/markets", s.listMarkets)
	v1.GET("/markets/:market/ticker", s.ticker)
	v1.GET("/markets/:market/book", s.book)
	v1.GET("/markets/:market/trades", s.recentTrades)
	v1.GET("/markets/:market/candles", s.candles)
	e.GET(wsPath, s.websocket)
	v1.POST("/auth/register", s.register)
	v1.POST("/auth/login", s.login)

	// Middleware goes on each route, not on a group: Echo runs a group's
	// middleware for unmatched paths too, which would turn 404s into 401s.
	authed := func(mw ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return append([]echo.MiddlewareFunc{s.authenticate}, mw...)
	}
	v1.POST("/auth/logout", s.logout, authed(sessionOnly)...)
	v1.POST("/auth/password", s.changePassword, authed(sessionOnly)...)
	v1.GET("/account", s.account, authed(require(auth.ScopeRead))...)
	v1.POST("/api-keys", s.createAPIKey, authed(sessionOnly)...)
	v1.GET("/api-keys", s.listAPIKeys, authed(sessionOnly)...)
	v1.DELETE("/api-keys/:id", s.revokeAPIKey, authed(sessionOnly)...)
	v1.GET("/balances", s.balances, authed(require(auth.ScopeRead))...)
	v1.POST("/deposits", s.deposit, authed(require(auth.ScopeTrade))...)
	v1.GET("/deposits", s.listDeposits, authed(require(auth.ScopeRead))...)
	v1.POST("/withdrawals", s.withdraw, authed(require(auth.ScopeWithdraw))...)
	v1.GET("/withdrawals", s.listWithdrawals, authed(require(auth.ScopeRead))...)
	v1.POST("/orders", s.placeOrder, authed(require(auth.ScopeTrade))...)
	v1.POST("/orders/batch", s.placeOrders, authed(require(auth.ScopeTrade))...)
	v1.GET("/orders", s.listOrders, authed(require(auth.ScopeRead))...)
	v1.DELETE("/orders", s.cancelAll, authed(require(auth.ScopeTrade))...)
	v1.GET("/orders/:id", s.getOrder, authed(require(auth.ScopeRead))...)
	v1.DELETE("/orders/:id", s.cancelOrder, authed(require(auth.ScopeTrade))...)
	v1.GET("/fills", s.listFills, authed(require(auth.ScopeRead))...)

	admin := authed(sessionOnly, adminOnly)
	v1.GET("/admin/deposits", s.adminListDeposits, admin...)
	v1.POST("/admin/deposits/:id/approve", s.adminReviewDeposit(true), admin...)
	v1.POST("/admin/deposits/:id/reject", s.adminReviewDeposit(false), admin...)
	v1.GET("/admin/withdrawals", s.adminListWithdrawals, admin...)
	v1.POST("/admin/withdrawals/:id/approve", s.adminReviewWithdrawal(true), admin...)
	v1.POST("/admin/withdrawals/:id/reject", s.adminReviewWithdrawal(false), admin...)
	v1.POST("/admin/users/:id/freeze", s.adminSetUserStatus(auth.StatusFrozen), admin...)
	v1.POST("/admin/users/:id/unfreeze", s.adminSetUserStatus(auth.StatusActive), admin...)
	v1.POST("/admin/adjustments", s.adminAdjust, admin...)
	v1.POST("/admin/markets/:market/halt", s.adminMarketStatus(catalog.MarketHalted), admin...)
	v1.POST("/admin/markets/:market/resume", s.adminMarketStatus(catalog.MarketOpen), admin...)

	// Not part of the public API: replicas forward commands to the leader.
	e.POST(sequencer.InternalPath, s.sequencerCommand)

	// The traders' web site, on the same services; s supplies the actions
	// whose checks live with the JSON handlers.
	web.Register(e, web.Deps{DB: s.DB, Auth: s.Auth, Wallet: s.Wallet, Catalog: s.Catalog, Feed: s.Feed, Actions: s, Config: s.Config, Log: s.log})
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz fails while draining, when the database is unreachable, or when the
// schema is behind this binary, so no traffic reaches a pod that cannot serve it.
func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return errNotReady("shutting down")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	sqlDB := database.SQL(s.DB)
	if err := sqlDB.PingContext(ctx); err != nil {
		return errNotReady("database unreachable")
	}
	cur, err := migrate.Current(ctx, sqlDB)
	if err != nil {
		return errNotReady("cannot read the schema version")
	}
	if want := migrate.Latest(); cur != want {
		return errNotReady(fmt.Sprintf("schema version %d, binary needs %d: run `exchange migrate`", cur, want))
	}
	if err := s.Sequencer.Ready(ctx); err != nil {
		return errNotReady("no sequencer leader is reachable")
	}
	if !s.Feed.Ready() {
		return errNotReady("market data is not in sync yet")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func errNotReady(why string) error { return apierr.New("not_ready", "%s", why) }

// Run serves on the configured address until ctx ends, then drains: it
// reports not-ready, stops accepting, and gives in-flight requests up to
// ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Config.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.Config.ReadTimeout,
		WriteTimeout:      s.Config.WriteTimeout,
		IdleTimeout:       s.Config.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("draining", "timeout_seconds", s.Config.ShutdownTimeout.Seconds())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// A stop asked for is still a clean stop: what did not finish in
		// time is cut off, as Kubernetes would after the grace period.
		s.log.Warn("drain timed out; closing the remaining connections", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func stack() string {
	buf := make([]byte, 8<<10)
	return string(buf[:runtime.Stack(buf, false)])
}
