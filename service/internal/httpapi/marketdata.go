package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
)

// market resolves the :market path parameter.
func (s *api) market(c echo.Context) (string, error) {
	name := c.Param("market")
	if _, _, _, err := s.Catalog.Market(c.Request().Context(), name); err != nil {
		return "", err
	}
	return name, nil
}

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, apierr.New(apierr.InvalidRequest, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

func errFeedNotReady() error {
	return apierr.New(apierr.NotReady, "market data is resynchronising; retry in a moment")
}

type bookJSON struct {
	Market   string            `json:"market"`
	Sequence int64             `json:"sequence"`
	Bids     [][2]money.Amount `json:"bids"`
	Asks     [][2]money.Amount `json:"asks"`
}

func (s *api) book(c echo.Context) error {
	m, err := s.market(c)
	if err != nil {
		return err
	}
	depth, err := intParam(c, "depth", 50, 1, 500)
	if err != nil {
		return err
	}
	b, ok := s.Feed.Book(m, depth)
	if !ok {
		return errFeedNotReady()
	}
	return c.JSON(http.StatusOK, bookJSON{Market: m, Sequence: b.Sequence, Bids: b.Bids, Asks: b.Asks})
}

func (s *api) ticker(c echo.Context) error {
	m, err := s.market(c)
	if err != nil {
		return err
	}
	t, ok := s.Feed.Ticker(m)
	if !ok {
		return errFeedNotReady()
	}
	return c.JSON(http.StatusOK, t)
}

func (s *api) recentTrades(c echo.Context) error {
	m, err := s.market(c)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	trades, err := s.Feed.Trades(c.Request().Context(), m, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, trades)
}

// candles serves ?interval=&from=&to=; from and to are RFC 3339 times or
// unix seconds. Without them: the latest 100 intervals.
func (s *api) candles(c echo.Context) error {
	m, err := s.market(c)
	if err != nil {
		return err
	}
	interval := c.QueryParam("interval")
	if interval == "" {
		interval = "1m"
	}
	width, ok := marketdata.Intervals[interval]
	if !ok {
		return apierr.New(apierr.InvalidRequest, "interval must be one of 1m, 5m, 15m, 1h, 1d")
	}
	to, err := timeParam(c, "to", s.Now().Add(width))
	if err != nil {
		return err
	}
	from, err := timeParam(c, "from", to.Add(-100*width))
	if err != nil {
		return err
	}
	out, err := s.Feed.Candles(c.Request().Context(), m, interval, from, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

func timeParam(c echo.Context, name string, def time.Time) (time.Time, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if secs, perr := strconv.ParseInt(raw, 10, 64); perr == nil {
		t, err = time.Unix(secs, 0).UTC(), nil
	}
	// PostgreSQL's timestamps, and any market's history, lie within these.
	if err != nil || t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, apierr.New(apierr.InvalidRequest, "%s must be an RFC 3339 time or unix seconds between 1970 and 9999", name)
	}
	return t, nil
}

// websocket upgrades GET /api/v1/ws. Credentials are optional: with a
// session cookie or a signed API-key request the private channels open too.
func (s *api) websocket(c echo.Context) error {
	req := c.Request()
	var access marketdata.Access
	var cmds marketdata.Commands
	if req.Header.Get("EX-KEY") != "" || hasCookie(req, sessionCookie) {
		if err := s.authenticate(func(c echo.Context) error { return nil })(c); err != nil {
			return err
		}
		p := mustPrincipal(c)
		if !p.Can(auth.ScopeRead) {
			return apierr.New(apierr.Forbidden, "this API key lacks the read scope")
		}
		access = marketdata.Access{Credential: p.Credential(), AccountID: p.AccountID}
		if p.Session != nil {
			access.Expires = p.Session.ExpiresAt
		}
		cmds = &wsOrders{api: s, owner: p.Owner(), canTrade: p.Can(auth.ScopeTrade), charge: ratelimit.Charger(c, p.UserID),
			log: s.Log.With("user_id", p.UserID)}
	}
	if !s.Feed.Ready() {
		return errFeedNotReady()
	}
	return s.Feed.ServeWS(c.Response(), req, access, ratelimit.Connection(c, ratelimit.WSMessages), cmds)
}

func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

func cookieValue(c echo.Context, name string) string {
	if ck, err := c.Cookie(name); err == nil {
		return ck.Value
	}
	return ""
}
