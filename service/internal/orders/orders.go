// Package orders owns the orders and trades tables: the trading
// vocabulary shared by the API and the sequencer (an order as stored and
// shown, a request parsed and checked against its market's rules), the
// reads, and the batch writer the sequencer calls.
package orders

import (
	"errors"
	"regexp"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Order is an order as stored.
type Order struct {
	ID             int64
	UserID         int64
	AccountID      int64
	Market         string
	ClientOrderID  *string
	Side           engine.Side
	Type           engine.Kind
	TimeInForce    engine.TimeInForce
	PostOnly       bool
	Price          *money.Amount
	Quantity       *money.Amount
	QuoteQuantity  *money.Amount
	FilledQuantity money.Amount
	FilledQuote    money.Amount
	Fee            money.Amount
	Status         Status
	CancelReason   CancelReason
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Open reports whether the order rests on the book.
func (o *Order) Open() bool { return o.Status.Resting() }

// JSON is the order as the API shows it.
type JSON struct {
	ID             string             `json:"id"`
	ClientOrderID  *string            `json:"client_order_id"`
	Market         string             `json:"market"`
	Side           engine.Side        `json:"side"`
	Type           engine.Kind        `json:"type"`
	TimeInForce    engine.TimeInForce `json:"time_in_force"`
	PostOnly       bool               `json:"post_only"`
	Price          *money.Amount      `json:"price"`
	Quantity       *money.Amount      `json:"quantity"`
	QuoteQuantity  *money.Amount      `json:"quote_quantity,omitempty"`
	FilledQuantity money.Amount       `json:"filled_quantity"`
	FilledQuote    money.Amount       `json:"filled_quote"`
	AveragePrice   *money.Amount      `json:"average_price"`
	Fee            money.Amount       `json:"fee"`
	FeeAsset       string             `json:"fee_asset"`
	Status         Status             `json:"status"`
	CancelReason   CancelReason       `json:"cancel_reason,omitzero"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

// View renders the order for the API. The average price is rounded down
// to 8 decimals; fees are in the asset the order receives.
func (o *Order) View(m catalog.Market) JSON {
	j := JSON{
		ID: formatID(o.ID), ClientOrderID: o.ClientOrderID, Market: o.Market, Side: o.Side, Type: o.Type,
		TimeInForce: o.TimeInForce, PostOnly: o.PostOnly, Price: o.Price, Quantity: o.Quantity, QuoteQuantity: o.QuoteQuantity,
		FilledQuantity: o.FilledQuantity, FilledQuote: o.FilledQuote, Fee: o.Fee, Status: o.Status, CancelReason: o.CancelReason,
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, FeeAsset: m.Base,
	}
	if o.Side == engine.Sell {
		j.FeeAsset = m.Quote
	}
	if o.FilledQuantity > 0 {
		if avg, err := money.MulDivFloor(o.FilledQuote, money.One, o.FilledQuantity); err == nil {
			j.AveragePrice = &avg
		}
	}
	return j
}

// PlaceRequest is the body of POST /api/v1/orders.
type PlaceRequest struct {
	Market        string  `json:"market"`
	Side          string  `json:"side"`
	Type          string  `json:"type"`
	Price         *string `json:"price"`
	Quantity      *string `json:"quantity"`
	QuoteQuantity *string `json:"quote_quantity"`
	TimeInForce   string  `json:"time_in_force"`
	PostOnly      bool    `json:"post_only"`
	ClientOrderID string  `json:"client_order_id"`
}

var clientOrderIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Spec is a parsed, rule-checked order, ready for the sequencer, which adds
// the id and owner.
type Spec struct {
	Market        string
	ClientOrderID string
	Order         engine.Order
}

// Words name a request's fields in the messages of its refusals: the
// API's field names for the API, the form's labels for the web site, so
// each caller reads about the fields it filled in.
type Words struct {
	Price, Quantity, QuoteQuantity, TimeInForce string
}

// APIWords are the JSON API's field names.
var APIWords = Words{Price: "price", Quantity: "quantity", QuoteQuantity: "quote_quantity", TimeInForce: "time_in_force"}

// Parse turns a request into a Spec, checking every field against the
// market's rules before anything is reserved. Errors are client errors
// with the contract's codes.
func Parse(r PlaceRequest, m catalog.Market, base, quote catalog.Asset) (Spec, error) {
	return ParseIn(r, m, base, quote, APIWords)
}

// ParseIn is Parse with the fields named by w in its messages.
func ParseIn(r PlaceRequest, m catalog.Market, base, quote catalog.Asset, w Words) (Spec, error) {
	s := Spec{Market: m.Name, ClientOrderID: r.ClientOrderID}
	if r.ClientOrderID != "" && !clientOrderIDPattern.MatchString(r.ClientOrderID) {
		return s, apierr.New(apierr.InvalidClientOrderID, "client_order_id must be 1 to 64 characters of letters, digits and _ . : -")
	}
	o := &s.Order
	var ok bool
	if o.Side, ok = engine.ParseSide(r.Side); !ok {
		return s, apierr.New(apierr.InvalidRequest, "side must be buy or sell")
	}
	if o.Kind, ok = engine.ParseKind(r.Type); !ok {
		return s, apierr.New(apierr.InvalidRequest, "type must be limit or market")
	}
	o.TIF = engine.GTC
	if o.Kind == engine.Market {
		o.TIF = engine.IOC
	}
	if r.TimeInForce != "" {
		if o.TIF, ok = engine.ParseTimeInForce(r.TimeInForce); !ok {
			return s, apierr.New(apierr.InvalidRequest, "%s must be GTC, IOC or FOK", w.TimeInForce)
		}
	}
	o.PostOnly = r.PostOnly
	var err error
	if r.Price != nil {
		if o.Price, err = parsePositive(*r.Price, apierr.InvalidPrice, w.Price); err != nil {
			return s, err
		}
	}
	if r.Quantity != nil {
		if o.Quantity, err = parsePositive(*r.Quantity, apierr.InvalidQuantity, w.Quantity); err != nil {
			return s, err
		}
	}
	if r.QuoteQuantity != nil {
		if o.QuoteQuantity, err = parsePositive(*r.QuoteQuantity, apierr.InvalidQuantity, w.QuoteQuantity); err != nil {
			return s, err
		}
	}
	if err := explain(Rules(m, base, quote).Check(withPlaceholderID(*o)), *o, m, w); err != nil {
		return s, err
	}
	return s, nil
}

// withPlaceholderID lets Check run before the sequencer assigns the id.
func withPlaceholderID(o engine.Order) engine.Order {
	o.ID = 1
	return o
}

func parsePositive(raw string, code apierr.Code, field string) (money.Amount, error) {
	v, err := money.Parse(raw)
	switch {
	case errors.Is(err, money.ErrPrecision):
		return 0, apierr.New(code, "%s %q has more than 8 decimal places", field, raw)
	case err != nil:
		return 0, apierr.New(code, "%s %q is not a decimal string like \"12.5\"", field, raw)
	case v <= 0:
		return 0, apierr.New(code, "%s must be greater than zero", field)
	}
	return v, nil
}

// explain turns an engine reject into a client error that says which rule
// failed and what would pass.
func explain(r engine.Reject, o engine.Order, m catalog.Market, w Words) error {
	switch r {
	case engine.Accepted:
		return nil
	case engine.RejectInvalidPrice:
		if o.Price == 0 {
			return apierr.New(apierr.InvalidPrice, "a limit order needs a %s", w.Price)
		}
		return apierr.New(apierr.InvalidPrice, "%s %s is not a multiple of the tick size %s", w.Price, o.Price, m.TickSize)
	case engine.RejectInvalidQuantity:
		switch {
		case o.Quantity == 0 && o.QuoteQuantity == 0:
			return apierr.New(apierr.InvalidQuantity, "give %s (or, for a market buy, %s)", w.Quantity, w.QuoteQuantity)
		case o.Quantity != 0 && o.QuoteQuantity != 0:
			return apierr.New(apierr.InvalidQuantity, "give %s or %s, not both", w.Quantity, w.QuoteQuantity)
		case o.QuoteQuantity != 0 && o.Side == engine.Sell:
			return apierr.New(apierr.InvalidQuantity, "%s is for market buys only", w.QuoteQuantity)
		case o.QuoteQuantity != 0:
			return apierr.New(apierr.InvalidQuantity, "%s %s has more decimals than %s allows", w.QuoteQuantity, o.QuoteQuantity, m.Quote)
		}
		return apierr.New(apierr.InvalidQuantity, "%s %s is not a multiple of the lot size %s", w.Quantity, o.Quantity, m.LotSize)
	case engine.RejectBelowMinNotional:
		return apierr.New(apierr.BelowMinNotional, "the order's value is below the market's minimum of %s %s", m.MinNotional, m.Quote)
	case engine.RejectOverflow:
		return apierr.New(apierr.InvalidQuantity, "%s times %s is out of range", w.Price, w.Quantity)
	}
	switch {
	case o.Kind == engine.Market && o.Price != 0:
		return apierr.New(apierr.InvalidPrice, "a market order takes no %s", w.Price)
	case o.Kind == engine.Market && o.PostOnly:
		return apierr.New(apierr.InvalidOrder, "a market order cannot be post-only")
	case o.Kind == engine.Market && o.QuoteQuantity != 0:
		return apierr.New(apierr.InvalidOrder, "a market buy by %s is IOC only", w.QuoteQuantity)
	case o.Kind == engine.Market:
		return apierr.New(apierr.InvalidOrder, "a market order is IOC or FOK, never GTC")
	case o.QuoteQuantity != 0:
		return apierr.New(apierr.InvalidQuantity, "%s is for market buys only", w.QuoteQuantity)
	}
	return apierr.New(apierr.InvalidOrder, "the order is not valid for %s", m.Name)
}

// Explain is explain for the sequencer's own rejects (post-only, FOK).
func Explain(r engine.Reject, o engine.Order, m catalog.Market) error {
	switch r {
	case engine.RejectPostOnlyWouldTake:
		return apierr.New(apierr.PostOnlyWouldTake, "the post-only order would trade at once at %s; it was not placed", o.Price)
	case engine.RejectFOKNotFilled:
		return apierr.New(apierr.FOKNotFilled, "the fill-or-kill order cannot be filled in full now; it was not placed")
	}
	return explain(r, o, m, APIWords)
}

// Rules converts a market's catalog rules into the engine's.
func Rules(m catalog.Market, base, quote catalog.Asset) engine.Rules {
	return engine.Rules{
		TickSize:    m.TickSize,
		LotSize:     m.LotSize,
		MinNotional: m.MinNotional,
		MakerFeeBps: money.Amount(m.MakerFeeBps),
		TakerFeeBps: money.Amount(m.TakerFeeBps),
		BaseStep:    money.StepOf(base.Precision),
		QuoteStep:   money.StepOf(quote.Precision),
	}
}
