package web

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
	"github.com/crypto-exchange/exchange/service/internal/trading"
)

// orderFields are the order form's fields, kept as typed when it is refused.
var orderFields = []string{"side", "type", "price", "quantity", "total", "time_in_force"}

// placed is the market page script's answer to a placed order: the
// message, the order, and the orders self-trade prevention cancelled.
type placed struct {
	Notice    string        `json:"notice"`
	Data      orders.JSON   `json:"data"`
	SelfTrade []orders.JSON `json:"self_trade_cancelled"`
}

func (s *site) placeOrder(c echo.Context) error {
	ctx := c.Request().Context()
	back := "/markets/" + c.Param("market")
	t := trading.Ticket{
		Market:      c.Param("market"),
		Side:        formValue(c, "side"),
		Type:        formValue(c, "type"),
		TimeInForce: formValue(c, "time_in_force"),
		PostOnly:    formValue(c, "post_only") != "",
	}
	// The form reads amounts as people type them; the service takes plain decimals.
	var err error
	for _, f := range []struct {
		dst         *string
		field, word string
	}{{&t.Price, "price", "price"}, {&t.Amount, "quantity", "amount"}, {&t.Total, "total", "total"}} {
		if *f.dst, err = typedAmount(formValue(c, f.field), f.word); err != nil {
			return s.failedForm(c, back, "order", err, orderFields...)
		}
	}
	if t.Type == "market" {
		t.Price = "" // one form serves both types; its price box means nothing to a market order
	}
	p, err := s.Trading.PlaceTicket(ctx, mustPrincipal(c).Owner(), t)
	if err != nil {
		return s.failedForm(c, back, "order", err, orderFields...)
	}
	reqlog.SetOrder(c, p.Order.ID, p.Order.Market)
	m, _, _, err := s.Catalog.Market(ctx, p.Order.Market)
	if err != nil {
		return err
	}
	out := placed{Data: p.Order.View(m)}
	if out.SelfTrade, err = s.Trading.Views(ctx, p.SelfTradeCancelled); err != nil {
		return err
	}
	out.Notice = orderOutcome(out.Data, m)
	if stp := selfTradeNotice(out.SelfTrade, m); stp != "" {
		out.Notice += " " + stp
	}
	return s.answer(c, back, out.Notice, out)
}

func (s *site) cancelOrder(c echo.Context) error {
	ctx := c.Request().Context()
	back := localPath(formValue(c, "back"), "/orders")
	id, err := inputcheck.PathID(c, "order")
	if err != nil {
		return err
	}
	o, err := s.Trading.Cancel(ctx, mustPrincipal(c).Owner(), id)
	if err != nil {
		return s.failed(c, back, err)
	}
	reqlog.SetOrder(c, id, o.Market)
	v, err := s.Trading.View(ctx, o)
	if err != nil {
		return err
	}
	return s.done(c, back, fmt.Sprintf("Order %d cancelled.", id), v)
}

// cancelAllOrders cancels the trader's open orders in one market.
func (s *site) cancelAllOrders(c echo.Context) error {
	ctx := c.Request().Context()
	market := c.Param("market")
	back := "/markets/" + market
	list, err := s.Trading.CancelAll(ctx, mustPrincipal(c).Owner(), market, orders.CancelUser)
	if err != nil {
		return s.failed(c, back, err)
	}
	v, err := s.Trading.Views(ctx, list)
	if err != nil {
		return err
	}
	notice := fmt.Sprintf("You had no open orders in %s.", market)
	switch len(v) {
	case 0:
	case 1:
		notice = fmt.Sprintf("Cancelled your open order in %s.", market)
	default:
		notice = fmt.Sprintf("Cancelled your %d open orders in %s.", len(v), market)
	}
	return s.done(c, back, notice, v)
}
