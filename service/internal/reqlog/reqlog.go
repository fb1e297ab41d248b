// Package reqlog carries what a request's handlers learn (whose request
// it is, which order, which market) to the one log line the HTTP server
// writes for the request. The JSON API (httpapi) and the web pages (web)
// both record here, so the keys and their types exist once.
package reqlog

import (
	"log/slog"

	"github.com/labstack/echo/v4"
)

// Echo context keys; only this package reads or writes them.
const (
	userKey   = "reqlog_user_id"
	orderKey  = "reqlog_order_id"
	marketKey = "reqlog_market"
)

// SetUser records the authenticated user.
func SetUser(c echo.Context, userID int64) { c.Set(userKey, userID) }

// SetOrder records the order a request placed or cancelled, and its market.
func SetOrder(c echo.Context, orderID int64, market string) {
	c.Set(orderKey, orderID)
	c.Set(marketKey, market)
}

// Attrs are the recorded values under the log's stable keys user_id,
// order_id and market; a value nobody recorded is left out.
func Attrs(c echo.Context) []slog.Attr {
	var out []slog.Attr
	if id, ok := c.Get(userKey).(int64); ok {
		out = append(out, slog.Int64("user_id", id))
	}
	if id, ok := c.Get(orderKey).(int64); ok {
		out = append(out, slog.Int64("order_id", id))
	}
	if m, ok := c.Get(marketKey).(string); ok {
		out = append(out, slog.String("market", m))
	}
	return out
}
