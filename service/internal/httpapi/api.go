// Package httpapi is the JSON API of api/openapi.yaml: binding requests,
// authenticating callers, and answering in the contract's shapes. What a
// request does is the application services' business (trading, wallet,
// auth); this package is transport only.
package httpapi

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/proofs"
	"github.com/crypto-exchange/exchange/service/internal/trading"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
)

// WebSocketPath is the streams' endpoint; it lives as long as its client.
const WebSocketPath = "/api/v1/ws"

// Deps are what the API is built from.
type Deps struct {
	Auth    *auth.Service
	Wallet  *wallet.Service
	Trading *trading.Service
	Proofs  *proofs.Service
	Catalog *catalog.Cache
	Feed    *marketdata.Feed
	Config  config.Server
	Log     *slog.Logger
	Now     func() time.Time
}

type api struct {
	Deps
}

// Register adds the API's routes to e.
func Register(e *echo.Echo, d Deps) {
	s := &api{Deps: d}
	v1 := e.Group("/api/v1")
	v1.GET("/assets", s.listAssets)
	v1.GET("/markets", s.listMarkets)
	v1.GET("/markets/:market/ticker", s.ticker)
	v1.GET("/markets/:market/book", s.book)
	v1.GET("/markets/:market/trades", s.recentTrades)
	v1.GET("/markets/:market/candles", s.candles)
	v1.GET("/proof/latest", s.latestProof)
	v1.GET("/proof", s.listProofs)
	e.GET(WebSocketPath, s.websocket)
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
	v1.GET("/sessions", s.listSessions, authed(sessionOnly)...)
	v1.DELETE("/sessions", s.revokeOtherSessions, authed(sessionOnly)...)
	v1.DELETE("/sessions/:id", s.revokeSession, authed(sessionOnly)...)
	v1.GET("/login-history", s.loginHistory, authed(sessionOnly)...)
	v1.GET("/balances", s.balances, authed(require(auth.ScopeRead))...)
	v1.POST("/deposits", s.deposit, authed(require(auth.ScopeTrade))...)
	v1.GET("/deposits", s.listDeposits, authed(require(auth.ScopeRead))...)
	v1.POST("/withdrawals", s.withdraw, authed(require(auth.ScopeWithdraw))...)
	v1.GET("/withdrawals", s.listWithdrawals, authed(require(auth.ScopeRead))...)
	v1.DELETE("/withdrawals/:id", s.cancelWithdrawal, authed(require(auth.ScopeWithdraw))...)
	v1.POST("/orders", s.placeOrder, authed(require(auth.ScopeTrade))...)
	v1.POST("/orders/batch", s.placeOrders, authed(require(auth.ScopeTrade))...)
	v1.GET("/orders", s.listOrders, authed(require(auth.ScopeRead))...)
	v1.DELETE("/orders", s.cancelAll, authed(require(auth.ScopeTrade))...)
	v1.GET("/orders/:id", s.getOrder, authed(require(auth.ScopeRead))...)
	v1.DELETE("/orders/:id", s.cancelOrder, authed(require(auth.ScopeTrade))...)
	v1.GET("/fills", s.listFills, authed(require(auth.ScopeRead))...)
	v1.GET("/proof/mine", s.myProof, authed(require(auth.ScopeRead))...)

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
	v1.GET("/admin/adjustments", s.adminListAdjustments, admin...)
	v1.POST("/admin/adjustments/:id/approve", s.adminReviewAdjustment(true), admin...)
	v1.POST("/admin/adjustments/:id/reject", s.adminReviewAdjustment(false), admin...)
	v1.POST("/admin/markets/:market/halt", s.adminMarketStatus(catalog.MarketHalted), admin...)
	v1.POST("/admin/markets/:market/resume", s.adminMarketStatus(catalog.MarketOpen), admin...)
	v1.POST("/admin/proof/snapshots", s.adminTakeSnapshot, admin...)
}
