// Package web is the traders' web site: server-rendered pages (Go
// html/template) over the same services as the JSON API, with every
// template, stylesheet and script embedded in the binary. Forms post to
// the page handlers and redirect (POST-redirect-GET) with the session's
// CSRF token in a hidden field. The market list, the market page, the
// wallet and the orders page follow the WebSocket channels (live.js); the
// market page's script also sends its forms with fetch.
package web

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/proofs"
	"github.com/crypto-exchange/exchange/service/internal/trading"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
)

// Deps are what the pages are built from: the same application services
// the JSON API calls, so a page and its API twin take one code path.
type Deps struct {
	Auth    *auth.Service
	Wallet  *wallet.Service
	Trading *trading.Service
	Proofs  *proofs.Service
	Catalog *catalog.Cache
	Feed    *marketdata.Feed
	Config  config.Server
	Log     *slog.Logger
}

type site struct {
	Deps
	pages *pages
}

// Register adds the site's routes to e. Every route's handler is a method
// of this package, which is how the API contract test tells pages from the
// JSON API.
func Register(e *echo.Echo, d Deps) {
	s := &site{Deps: d, pages: mustParsePages()}
	e.GET("/static/*", s.static)

	anyone := []echo.MiddlewareFunc{s.htmlErrors, s.optionalUser}
	user := []echo.MiddlewareFunc{s.htmlErrors, s.requireUser}
	post := []echo.MiddlewareFunc{s.htmlErrors, s.requireUser, s.checkCSRF}
	admin := []echo.MiddlewareFunc{s.htmlErrors, s.requireUser, s.requireAdmin}
	adminPost := []echo.MiddlewareFunc{s.htmlErrors, s.requireUser, s.requireAdmin, s.checkCSRF}

	e.GET("/", s.marketsPage, anyone...)
	e.GET("/markets/:market", s.marketPage, anyone...)
	e.POST("/markets/:market/orders", s.placeOrder, post...)
	e.POST("/markets/:market/orders/cancel-all", s.cancelAllOrders, post...)
	e.POST("/orders/:id/cancel", s.cancelOrder, post...)
	e.GET("/orders", s.ordersPage, user...)

	e.GET("/proof", s.proofPage, anyone...)
	e.GET("/proof/mine.json", s.myProofFile, user...)

	e.GET("/signup", s.signupPage, anyone...)
	e.POST("/signup", s.signup, s.htmlErrors, s.optionalUser, s.checkFormToken)
	e.GET("/login", s.loginPage, anyone...)
	e.POST("/login", s.login, s.htmlErrors, s.optionalUser, s.checkFormToken)
	e.POST("/logout", s.logout, post...)

	e.GET("/wallet", s.walletPage, user...)
	e.POST("/wallet/deposits", s.deposit, post...)
	e.POST("/wallet/withdrawals", s.withdraw, post...)
	e.POST("/wallet/withdrawals/:id/cancel", s.cancelWithdrawal, post...)

	e.GET("/api-keys", s.apiKeysPage, user...)
	e.POST("/api-keys", s.createAPIKey, post...)
	e.POST("/api-keys/:id/revoke", s.revokeAPIKey, post...)

	e.GET("/account", s.accountPage, user...)
	e.POST("/account/password", s.changePassword, post...)
	e.POST("/account/totp/setup", s.startTOTP, post...)
	e.POST("/account/totp/enable", s.enableTOTP, post...)
	e.POST("/account/totp/disable", s.disableTOTP, post...)
	e.POST("/account/sessions/:id/revoke", s.revokeSession, post...)
	e.POST("/account/sessions/revoke-others", s.revokeOtherSessions, post...)

	e.GET("/admin", s.adminHome, admin...)
	e.GET("/admin/wallet", s.adminWalletPage, admin...)
	e.POST("/admin/deposits/:id/:decision", s.adminReviewDeposit, adminPost...)
	e.POST("/admin/withdrawals/:id/:decision", s.adminReviewWithdrawal, adminPost...)
	e.GET("/admin/markets", s.adminMarketsPage, admin...)
	e.POST("/admin/markets/:market/:decision", s.adminMarketStatus, adminPost...)
	e.GET("/admin/users", s.adminUsersPage, admin...)
	e.POST("/admin/users/:id/:decision", s.adminUserStatus, adminPost...)
	e.GET("/admin/proof", s.adminProofPage, admin...)
	e.POST("/admin/proof/snapshots", s.adminTakeSnapshot, adminPost...)
}
