// Package httpserver is the exchange's HTTP front: it builds the middleware
// every request passes through, mounts the JSON API (httpapi) and the
// traders' web site (web) side by side on the public listener, and serves
// what only the cluster may reach (metrics, the sequencer's door for other
// replicas) on a second, internal listener.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/httpapi"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/proofs"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/trading"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
	"github.com/crypto-exchange/exchange/service/internal/web"
)

// Deps are what the server is built from.
type Deps struct {
	DB        *gorm.DB
	Auth      *auth.Service
	Wallet    *wallet.Service
	Trading   *trading.Service
	Proofs    *proofs.Service
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
	echo     *echo.Echo
	internal *http.ServeMux
	metrics  *httpMetrics
	limiter  *ratelimit.Limiter
	draining atomic.Bool
	// ready caches readyz's checks for a second.
	ready struct {
		sync.Mutex
		at  time.Time
		err error
	}
}

// New wires middleware and routes.
func New(d Deps) *Server {
	s := &Server{Deps: d, metrics: newHTTPMetrics(d.Registry), limiter: ratelimit.New(d.Config.RateLimits, d.Now)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(d.Config.TrustedProxies)
	e.Use(
		inputcheck.RequestID(newRequestID),
		s.logRequest,
		s.recoverPanics,
		// Budgets first: a client over its budget costs no body read.
		ratelimit.Middleware(s.limiter, classify),
		middleware.BodyLimit("64K"),
		inputcheck.Middleware,
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
			// a quarter of the CPU under order load). A WebSocket is not a
			// response body.
			Skipper: func(c echo.Context) bool {
				return c.Request().Method != http.MethodGet || c.Path() == httpapi.WebSocketPath
			},
		}),
		middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
			Timeout: d.Config.RequestTimeout,
			Skipper: func(c echo.Context) bool { return c.Path() == httpapi.WebSocketPath }, // lives as long as the client stays
		}),
	)
	s.echo = e
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	httpapi.Register(e, httpapi.Deps{
		Auth: d.Auth, Wallet: d.Wallet, Trading: d.Trading, Proofs: d.Proofs, Catalog: d.Catalog, Feed: d.Feed,
		Config: d.Config, Log: d.Log, Now: d.Now,
	})
	web.Register(e, web.Deps{
		Auth: d.Auth, Wallet: d.Wallet, Trading: d.Trading, Proofs: d.Proofs, Catalog: d.Catalog, Feed: d.Feed,
		Config: d.Config, Log: d.Log,
	})

	s.internal = http.NewServeMux()
	// Other replicas check the leader's /healthz here before forwarding.
	s.internal.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	s.internal.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry}))
	s.internal.Handle("POST "+sequencer.InternalPath, d.Sequencer.Handler())
	return s
}

// clientIP is the TCP peer, unless the peer is one of the configured
// proxies (the ingress controller's pods): then it is the address that
// proxy appended to X-Forwarded-For, the last entry. Entries further left
// were written by the client and are never believed, even when they look
// like trusted addresses: anyone could write any address there, to dodge
// their own throttles or to use up someone else's.
func clientIP(trusted []*net.IPNet) echo.IPExtractor {
	direct := echo.ExtractIPDirect()
	if len(trusted) == 0 {
		return direct
	}
	return func(req *http.Request) string {
		peer := direct(req)
		ip := net.ParseIP(peer)
		if ip == nil || !contains(trusted, ip) {
			return peer
		}
		xff := req.Header.Values(echo.HeaderXForwardedFor)
		if len(xff) == 0 {
			return peer
		}
		entries := strings.Split(xff[len(xff)-1], ",")
		last := strings.Trim(strings.TrimSpace(entries[len(entries)-1]), "[]")
		if client := net.ParseIP(last); client != nil {
			return client.String()
		}
		return peer
	}
}

func contains(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func hstsMaxAge(secure bool) int {
	if secure {
		return 365 * 24 * 3600
	}
	return 0
}

// Handler is the public server as an http.Handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// InternalHandler serves the internal listener: metrics and the
// sequencer's door for other replicas.
func (s *Server) InternalHandler() http.Handler { return s.internal }

// Routes lists every registered public method and path, for the spec test.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

// Addrs are where the server listens once Run has bound its sockets.
type Addrs struct {
	Public, Internal net.Addr
}

// Run serves on the configured addresses until ctx ends, then drains: it
// reports not-ready, stops accepting, and gives in-flight requests up to
// ShutdownTimeout to finish. ready is called once both listeners are bound;
// publicDrained, if not nil, once the public side has drained and before
// the internal side stops, so that the replica can hand its leadership
// over while the other replicas still reach it.
func (s *Server) Run(ctx context.Context, ready func(Addrs), publicDrained func()) error {
	pub, err := net.Listen("tcp", s.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Config.Addr, err)
	}
	in, err := net.Listen("tcp", s.Config.InternalAddr)
	if err != nil {
		pub.Close()
		return fmt.Errorf("listen on %s (INTERNAL_ADDR): %w", s.Config.InternalAddr, err)
	}
	servers := []*http.Server{s.httpServer(s.echo), s.httpServer(s.internal)}
	for _, srv := range servers {
		new(unusedConns).track(srv)
	}
	if ready != nil {
		ready(Addrs{Public: pub.Addr(), Internal: in.Addr()})
	}
	go s.sweepLimits(ctx)
	errc := make(chan error, 2)
	go func() { errc <- servers[0].Serve(pub) }()
	go func() { errc <- servers[1].Serve(in) }()
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.Log.Info("draining", "timeout_seconds", s.Config.ShutdownTimeout.Seconds())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	// The public side first: the internal side keeps forwarding commands
	// to the sequencer for requests that are still draining.
	for i, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			// A stop asked for is still a clean stop: what did not finish in
			// time is cut off, as Kubernetes would after the grace period.
			s.Log.Warn("drain timed out; closing the remaining connections", "error", err.Error())
			_ = srv.Close()
		}
		if i == 0 && publicDrained != nil {
			publicDrained()
		}
	}
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
	}
	return nil
}

// sweepLimits forgets full buckets now and then, so idle clients cost no
// memory.
func (s *Server) sweepLimits(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.limiter.Sweep()
		}
	}
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.Config.ReadTimeout,
		WriteTimeout:      s.Config.WriteTimeout,
		IdleTimeout:       s.Config.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
}
