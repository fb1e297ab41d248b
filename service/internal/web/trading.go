package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/httpapi/reqlog"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// What the market page shows before its script takes over.
const (
	bookDepth    = 15
	recentTrades = 30
	pageSize     = 50
)

type marketRow struct {
	Market catalog.Market
	Ticker marketdata.Ticker
}

func (s *site) marketsPage(c echo.Context) error {
	markets, err := catalog.Markets(c.Request().Context(), s.DB)
	if err != nil {
		return err
	}
	rows := make([]marketRow, len(markets))
	for i, m := range markets {
		t, _ := s.Feed.Ticker(m.Name) // while resyncing: no prices, still the list
		rows[i] = marketRow{Market: m, Ticker: t}
	}
	return s.render(c, http.StatusOK, "markets", "Markets", rows)
}

type marketView struct {
	Market      catalog.Market
	Ticker      marketdata.Ticker
	BookReady   bool
	Bids, Asks  [][2]money.Amount // asks highest first, as drawn above the bids
	Trades      []marketdata.TradeJSON
	Open        []orders.JSON
	Base, Quote ledger.Balance
}

func (s *site) marketPage(c echo.Context) error {
	ctx := c.Request().Context()
	m, _, _, err := s.Catalog.Market(ctx, c.Param("market"))
	if err != nil {
		return err
	}
	v := marketView{Market: m}
	v.Ticker, _ = s.Feed.Ticker(m.Name)
	if b, ok := s.Feed.Book(m.Name, bookDepth); ok {
		v.BookReady, v.Bids, v.Asks = true, b.Bids, slices.Clone(b.Asks)
		slices.Reverse(v.Asks)
	}
	if v.Trades, err = marketdata.Trades(ctx, s.DB, m.Name, recentTrades); err != nil {
		return err
	}
	if p, ok := principalOf(c); ok {
		list, err := orders.List(ctx, s.DB, orders.Filter{UserID: p.UserID, Market: m.Name, Open: new(true), Limit: 100})
		if err != nil {
			return err
		}
		if v.Open, err = s.views(ctx, list); err != nil {
			return err
		}
		balances, err := s.Wallet.Balances(ctx, p.AccountID)
		if err != nil {
			return err
		}
		for _, b := range balances {
			switch b.Asset {
			case m.Base:
				v.Base = b
			case m.Quote:
				v.Quote = b
			}
		}
	}
	return s.render(c, http.StatusOK, "market", m.Name, v)
}

// views shows orders with their markets' fee assets.
func (s *site) views(ctx context.Context, list []orders.Order) ([]orders.JSON, error) {
	out := make([]orders.JSON, len(list))
	for i := range list {
		m, _, _, err := s.Catalog.Market(ctx, list[i].Market)
		if err != nil {
			return nil, err
		}
		out[i] = list[i].View(m)
	}
	return out, nil
}

// optional is a form field as the order request's optional string.
func optional(c echo.Context, name string) *string {
	if v := c.FormValue(name); v != "" {
		return &v
	}
	return nil
}

func (s *site) placeOrder(c echo.Context) error {
	ctx := c.Request().Context()
	back := "/markets/" + c.Param("market")
	req := orders.PlaceRequest{
		Market:      c.Param("market"),
		Side:        c.FormValue("side"),
		Type:        c.FormValue("type"),
		Quantity:    optional(c, "quantity"),
		TimeInForce: c.FormValue("time_in_force"),
		PostOnly:    c.FormValue("post_only") != "",
	}
	// One form serves both types; its price box means nothing to a market order.
	if req.Type != "market" {
		req.Price = optional(c, "price")
	}
	o, _, err := s.Actions.PlaceOrder(ctx, mustPrincipal(c), req)
	if err != nil {
		return s.failed(c, back, err, "side", "type", "price", "quantity", "time_in_force")
	}
	reqlog.SetOrder(c, o.ID, o.Market)
	v, err := s.views(ctx, []orders.Order{o})
	if err != nil {
		return err
	}
	return s.done(c, back, fmt.Sprintf("%s order %d placed: %s.", capitalised(o.Side), o.ID, words(o.Status)), v[0])
}

func (s *site) cancelOrder(c echo.Context) error {
	ctx := c.Request().Context()
	back := localPath(c.FormValue("back"), "/orders")
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return apierr.New(apierr.NotFound, "There is no order %q.", c.Param("id"))
	}
	o, err := s.Actions.CancelOrder(ctx, mustPrincipal(c), id)
	if err != nil {
		return s.failed(c, back, err)
	}
	reqlog.SetOrder(c, id, o.Market)
	v, err := s.views(ctx, []orders.Order{o})
	if err != nil {
		return err
	}
	return s.done(c, back, fmt.Sprintf("Order %d cancelled.", id), v[0])
}

type ordersView struct {
	Open, History []orders.JSON
	Fills         []orders.Fill
	// Cursors of the older pages; zero when there are none.
	OlderOrders, OlderFills int64
}

// ordersPage lists open orders, then closed orders and fills, newest
// first, each paged by its own cursor.
func (s *site) ordersPage(c echo.Context) error {
	ctx := c.Request().Context()
	userID := mustPrincipal(c).UserID
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	fillsBefore, _ := strconv.ParseInt(c.QueryParam("fills_before"), 10, 64)
	var v ordersView
	open, err := orders.List(ctx, s.DB, orders.Filter{UserID: userID, Open: new(true), Limit: 500})
	if err != nil {
		return err
	}
	closed, err := orders.List(ctx, s.DB, orders.Filter{UserID: userID, Open: new(false), Before: before, Limit: pageSize})
	if err != nil {
		return err
	}
	if len(closed) == pageSize {
		v.OlderOrders = closed[len(closed)-1].ID
	}
	if v.Open, err = s.views(ctx, open); err != nil {
		return err
	}
	if v.History, err = s.views(ctx, closed); err != nil {
		return err
	}
	if v.Fills, err = orders.Fills(ctx, s.DB, userID, "", fillsBefore, pageSize); err != nil {
		return err
	}
	if len(v.Fills) == pageSize {
		v.OlderFills = v.Fills[len(v.Fills)-1].TradeID
	}
	return s.render(c, http.StatusOK, "orders", "Orders", v)
}
