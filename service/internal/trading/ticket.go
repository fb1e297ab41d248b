package trading

import (
	"context"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// FormWords name an order's fields as the web site's order form labels
// them, so a refusal speaks of what the trader filled in.
var FormWords = orders.Words{Price: "price", Quantity: "amount", QuoteQuantity: "total", TimeInForce: "time in force"}

// Ticket is an order as a trader fills in the order form: an amount in
// the base asset, or a total in the quote asset (a limit order buys or
// sells what the total is worth at its price; a market buy spends it).
// Amounts are plain decimal strings, "" when left empty.
type Ticket struct {
	Market, Side, Type, TimeInForce string
	Price, Amount, Total            string
	PostOnly                        bool
}

// Placed is what placing an order did: the order, and the trader's own
// resting orders that self-trade prevention cancelled on its way.
type Placed struct {
	Order              orders.Order
	SelfTradeCancelled []orders.Order
	// created is false when a repeated client_order_id returned the
	// original order.
	created bool
}

// PlaceTicket turns a ticket into an order request and places it exactly
// as Place does (rules, funds, metrics); the answer says what self-trade
// prevention cancelled, so the page can say so.
func (s *Service) PlaceTicket(ctx context.Context, o auth.Owner, t Ticket) (Placed, error) {
	req := orders.PlaceRequest{Market: t.Market}
	if m, _, _, err := s.catalog.Market(ctx, t.Market); err == nil {
		// An unknown market is left to placeIn, which counts and refuses it.
		if req, err = ticketRequest(t, m); err != nil {
			s.metrics.received.WithLabelValues(m.Name).Inc()
			s.rejected(m.Name, err)
			return Placed{}, err
		}
	}
	return s.placeIn(ctx, o, req, FormWords)
}

// ticketRequest is the order request a ticket stands for. What the rules
// decide (ticks, lots, minimums, funds) is left to Parse and the
// sequencer; only what the API has no field for is settled here.
func ticketRequest(t Ticket, m catalog.Market) (orders.PlaceRequest, error) {
	req := orders.PlaceRequest{Market: t.Market, Side: t.Side, Type: t.Type, TimeInForce: t.TimeInForce, PostOnly: t.PostOnly}
	amount, total := optional(t.Amount), optional(t.Total)
	if t.Type == "market" {
		// A market order's price box means nothing; the form hides it.
		switch {
		case amount != nil && total != nil:
			return req, apierr.New(apierr.InvalidQuantity, "give either an amount in %s or a total in %s for a market order, not both", m.Base, m.Quote)
		case total != nil && t.Side == "sell":
			return req, apierr.New(apierr.InvalidQuantity, "a market sell takes the amount of %s to sell, not a total", m.Base)
		case amount == nil && total == nil && t.Side == "buy":
			return req, apierr.New(apierr.InvalidQuantity, "enter the amount of %s to buy, or the total in %s to spend", m.Base, m.Quote)
		case amount == nil && total == nil:
			return req, apierr.New(apierr.InvalidQuantity, "enter the amount of %s to sell", m.Base)
		}
		req.Quantity, req.QuoteQuantity = amount, total
		return req, nil
	}
	req.Price = optional(t.Price)
	switch {
	case amount != nil:
		// The form works the total out from the amount: the amount decides.
		req.Quantity = amount
	case total != nil && req.Price != nil:
		q, err := quantityFor(*total, *req.Price, m)
		if err != nil {
			return req, err
		}
		req.Quantity = optional(q)
	case req.Price != nil:
		return req, apierr.New(apierr.InvalidQuantity, "enter the amount of %s, or a total in %s", m.Base, m.Quote)
	}
	return req, nil
}

// quantityFor is the most a limit order at price can trade for total: the
// total divided by the price, rounded down to the lot. It is "" when the
// price is not a positive amount, which Parse then refuses in its words.
func quantityFor(total, price string, m catalog.Market) (string, error) {
	p, err := money.Parse(price)
	if err != nil || p <= 0 {
		return "", nil
	}
	t, err := money.Parse(total)
	if err != nil || t <= 0 {
		return "", apierr.New(apierr.InvalidQuantity, "total %q is not an amount such as 1,250.5", total)
	}
	q, err := money.MulDivFloor(t, money.One, p)
	if err != nil {
		return "", apierr.New(apierr.InvalidQuantity, "a total of %s at price %s is out of range", t, p)
	}
	if q = q.FloorTo(m.LotSize); q <= 0 {
		return "", apierr.New(apierr.InvalidQuantity, "a total of %s %s buys less than the smallest amount (%s %s) at price %s", t, m.Quote, m.LotSize, m.Base, p)
	}
	return q.String(), nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
