package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
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

// marketsView is the market list, and the market page's switcher.
type marketsView struct {
	Rows    []marketRow
	Figures figures
}

// marketRows lists every market with its ticker.
func (s *site) marketRows(ctx context.Context) (marketsView, error) {
	markets, err := s.Catalog.Markets(ctx)
	if err != nil {
		return marketsView{}, err
	}
	v := marketsView{Rows: make([]marketRow, len(markets))}
	for i, m := range markets {
		t, _ := s.Feed.Ticker(m.Name) // while resyncing: no prices, still the list
		v.Rows[i] = marketRow{Market: m, Ticker: t}
	}
	v.Figures, err = s.figures(ctx)
	return v, err
}

func (s *site) marketsPage(c echo.Context) error {
	v, err := s.marketRows(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "markets", "Markets", v)
}

type marketView struct {
	Market      catalog.Market
	BaseAsset   catalog.Asset
	QuoteAsset  catalog.Asset
	Ticker      marketdata.Ticker
	BookReady   bool
	Bids, Asks  []bookRow // asks highest first, as drawn above the bids
	Groups      []groupStep
	Trades      []marketdata.TradeJSON
	Open        []orders.JSON
	Base, Quote ledger.Balance
	// All is every market, for the switcher; Figures how to show them.
	All marketsView
}

func (s *site) marketPage(c echo.Context) error {
	ctx := c.Request().Context()
	m, base, quote, err := s.Catalog.Market(ctx, c.Param("market"))
	if apierr.Is(err, apierr.UnknownMarket) {
		return apierr.New(apierr.NotFound, "Unknown market %q.", c.Param("market"))
	}
	if err != nil {
		return err
	}
	v := marketView{Market: m, BaseAsset: base, QuoteAsset: quote}
	if v.All, err = s.marketRows(ctx); err != nil {
		return err
	}
	v.Ticker, _ = s.Feed.Ticker(m.Name)
	if b, ok := s.Feed.Book(m.Name, bookDepth); ok {
		v.BookReady, v.Bids, v.Asks = true, bookSide(b.Bids, false), bookSide(b.Asks, true)
	}
	v.Groups = groupSteps(m)
	if v.Trades, err = s.Feed.Trades(ctx, m.Name, recentTrades); err != nil {
		return err
	}
	if p, ok := principalOf(c); ok {
		list, err := s.Trading.Orders(ctx, orders.Filter{UserID: p.UserID, Market: m.Name, Open: new(true), Limit: 100})
		if err != nil {
			return err
		}
		if v.Open, err = s.Trading.Views(ctx, list); err != nil {
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

type ordersView struct {
	Open, History []orders.JSON
	Fills         []orders.Fill
	// Cursors of the older pages; zero when there are none.
	OlderOrders, OlderFills int64
	// Paged is set on an older page, where the script adds no new rows.
	Paged   bool
	Figures figures
}

// ordersPage lists open orders, then closed orders and fills, newest
// first, each paged by its own cursor.
func (s *site) ordersPage(c echo.Context) error {
	ctx := c.Request().Context()
	userID := mustPrincipal(c).UserID
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	fillsBefore, _ := strconv.ParseInt(c.QueryParam("fills_before"), 10, 64)
	v := ordersView{Paged: before > 0 || fillsBefore > 0}
	var err error
	if v.Figures, err = s.figures(ctx); err != nil {
		return err
	}
	open, err := s.Trading.Orders(ctx, orders.Filter{UserID: userID, Open: new(true), Limit: 500})
	if err != nil {
		return err
	}
	closed, err := s.Trading.Orders(ctx, orders.Filter{UserID: userID, Open: new(false), Before: before, Limit: pageSize})
	if err != nil {
		return err
	}
	if len(closed) == pageSize {
		v.OlderOrders = closed[len(closed)-1].ID
	}
	if v.Open, err = s.Trading.Views(ctx, open); err != nil {
		return err
	}
	if v.History, err = s.Trading.Views(ctx, closed); err != nil {
		return err
	}
	if v.Fills, err = s.Trading.Fills(ctx, userID, "", fillsBefore, pageSize); err != nil {
		return err
	}
	if len(v.Fills) == pageSize {
		v.OlderFills = v.Fills[len(v.Fills)-1].TradeID
	}
	return s.render(c, http.StatusOK, "orders", "Orders", v)
}
