package httpserver

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/httpapi"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
)

// classify is the table of route classes for the request budgets: the
// JSON API's and the web pages' routes, by method and route template.
// Health checks are exempt (the kubelet asks them from the node's address).
func classify(c echo.Context) (ratelimit.Class, bool) {
	path, method := c.Path(), c.Request().Method
	write := method != http.MethodGet && method != http.MethodHead
	switch {
	case path == "/healthz" || path == "/readyz":
		return "", false
	case path == httpapi.WebSocketPath:
		return ratelimit.WSConnect, true
	case strings.HasPrefix(path, "/api/v1/admin") || strings.HasPrefix(path, "/admin"):
		return ratelimit.Admin, true
	case !write:
		return ratelimit.Reads, true
	}
	switch path {
	case "/api/v1/auth/login", "/login", "/api/v1/auth/password", "/account/password",
		"/account/totp/setup", "/account/totp/enable", "/account/totp/disable":
		return ratelimit.Auth, true
	case "/api/v1/auth/register", "/signup":
		return ratelimit.SignUp, true
	case "/api/v1/orders", "/api/v1/orders/batch", "/markets/:market/orders":
		if method == http.MethodDelete {
			return ratelimit.Cancels, true
		}
		return ratelimit.Orders, true
	// Taking something back never costs the order or withdrawal budget: a
	// trader who spent it can still cancel.
	case "/api/v1/orders/:id", "/orders/:id/cancel", "/markets/:market/orders/cancel-all",
		"/api/v1/withdrawals/:id", "/wallet/withdrawals/:id/cancel":
		return ratelimit.Cancels, true
	case "/api/v1/withdrawals", "/wallet/withdrawals":
		return ratelimit.Withdrawals, true
	case "/api/v1/deposits", "/wallet/deposits":
		return ratelimit.Deposits, true
	}
	return ratelimit.Account, true
}
