// Package engine is the matching engine: one price-time priority order
// book per market. It is pure: no database, no network, no clock, no
// randomness. The same sequence of calls gives the same trades and the same
// book, always; the sequencer relies on that to rebuild state and the tests
// to compare against a reference model.
//
// Amounts are money.Amount values (int64 counts of 10^-8), and every
// multiplication goes through 128-bit checked arithmetic.
package engine

import (
	"fmt"
	"strconv"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Side of an order.
type Side uint8

const (
	Buy Side = iota + 1
	Sell
)

func (s Side) String() string {
	if s == Buy {
		return "buy"
	}
	return "sell"
}

// ParseSide reads "buy" or "sell".
func ParseSide(s string) (Side, bool) {
	switch s {
	case "buy":
		return Buy, true
	case "sell":
		return Sell, true
	}
	return 0, false
}

// MarshalText writes the side as the API and the database name it.
func (s Side) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a side's name.
func (s *Side) UnmarshalText(b []byte) error {
	v, ok := ParseSide(string(b))
	if !ok {
		return fmt.Errorf("engine: unknown side %q", b)
	}
	*s = v
	return nil
}

// Opposite is the side an order of this side trades against.
func (s Side) Opposite() Side { return 3 - s }

// Kind of order.
type Kind uint8

const (
	Limit Kind = iota + 1
	Market
)

func (k Kind) String() string {
	if k == Market {
		return "market"
	}
	return "limit"
}

// ParseKind reads "limit" or "market".
func ParseKind(s string) (Kind, bool) {
	switch s {
	case "limit":
		return Limit, true
	case "market":
		return Market, true
	}
	return 0, false
}

// MarshalText writes the kind as the API and the database name it.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, ok := ParseKind(string(b))
	if !ok {
		return fmt.Errorf("engine: unknown order type %q", b)
	}
	*k = v
	return nil
}

// TimeInForce says what happens to the part of an order that does not
// trade at once.
type TimeInForce uint8

const (
	// GTC rests on the book until filled or cancelled.
	GTC TimeInForce = iota + 1
	// IOC trades what it can at once and cancels the rest.
	IOC
	// FOK trades in full at once or not at all.
	FOK
)

func (t TimeInForce) String() string {
	switch t {
	case IOC:
		return "IOC"
	case FOK:
		return "FOK"
	}
	return "GTC"
}

// ParseTimeInForce reads "GTC", "IOC" or "FOK".
func ParseTimeInForce(s string) (TimeInForce, bool) {
	switch s {
	case "GTC":
		return GTC, true
	case "IOC":
		return IOC, true
	case "FOK":
		return FOK, true
	}
	return 0, false
}

// MarshalText writes the time in force as the API and the database name it.
func (t TimeInForce) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a time in force's name.
func (t *TimeInForce) UnmarshalText(b []byte) error {
	v, ok := ParseTimeInForce(string(b))
	if !ok {
		return fmt.Errorf("engine: unknown time in force %q", b)
	}
	*t = v
	return nil
}

// Reject is why an order was refused before anything happened. The zero
// value means accepted.
type Reject uint8

const (
	Accepted Reject = iota
	RejectInvalidPrice
	RejectInvalidQuantity
	RejectBelowMinNotional
	RejectPostOnlyWouldTake
	RejectFOKNotFilled
	RejectInvalidOrder
	RejectOverflow
)

// Code is the API error code for the reject.
func (r Reject) Code() string {
	switch r {
	case RejectInvalidPrice:
		return "invalid_price"
	case RejectInvalidQuantity:
		return "invalid_quantity"
	case RejectBelowMinNotional:
		return "below_min_notional"
	case RejectPostOnlyWouldTake:
		return "post_only_would_take"
	case RejectFOKNotFilled:
		return "fok_not_filled"
	case RejectOverflow:
		return "invalid_quantity"
	case RejectInvalidOrder:
		return "invalid_order"
	}
	return ""
}

// Rules are a market's trading rules, all in money.Amount units.
type Rules struct {
	TickSize    money.Amount
	LotSize     money.Amount
	MinNotional money.Amount
	MakerFeeBps money.Amount
	TakerFeeBps money.Amount
	// BaseStep and QuoteStep are the smallest units of the two assets
	// (10^-precision); fees are rounded down to them.
	BaseStep  money.Amount
	QuoteStep money.Amount
}

// Order is an incoming order.
type Order struct {
	ID    int64
	Owner int64 // ledger account: self-trade prevention compares it
	Side  Side
	Kind  Kind
	TIF   TimeInForce
	// PostOnly orders are refused if any part would trade at once.
	PostOnly bool
	// Price is the limit price; zero for market orders.
	Price money.Amount
	// Quantity in the base asset. A market buy may give QuoteQuantity
	// (the quote amount to spend) instead.
	Quantity      money.Amount
	QuoteQuantity money.Amount
}

// Trade is one match between a resting maker and the incoming taker. It
// happens at the maker's price.
type Trade struct {
	MakerID    int64
	TakerID    int64
	MakerOwner int64
	TakerOwner int64
	TakerSide  Side
	Price      money.Amount
	Quantity   money.Amount // base
	Quote      money.Amount // Price * Quantity, exact by the market's rules
	// Fees are charged in the asset each side receives: base for the
	// buyer, quote for the seller.
	MakerFee money.Amount
	TakerFee money.Amount
}

// MakerUpdate reports a resting order that a command changed: either a
// fill, or (Cancelled > 0) its cancellation by self-trade prevention.
type MakerUpdate struct {
	ID        int64
	Owner     int64
	Side      Side
	Price     money.Amount
	Filled    money.Amount // traded by this update
	Cancelled money.Amount // removed by self-trade prevention
	Remaining money.Amount // left on the book afterwards; 0 when it left
}

// Events collects what one command did. The caller resets and reuses it,
// so the engine's hot path does not allocate.
type Events struct {
	Trades []Trade
	Makers []MakerUpdate
}

// Reset empties the events, keeping their storage.
func (e *Events) Reset() {
	e.Trades = e.Trades[:0]
	e.Makers = e.Makers[:0]
}

// Fill is the outcome for the incoming order.
type Fill struct {
	Filled      money.Amount // base traded
	FilledQuote money.Amount // quote traded
	Fee         money.Amount // the taker's total fee
	// Resting is the quantity left on the book (GTC limit orders only).
	Resting money.Amount
	// Done means nothing of the order remains on the book.
	Done bool
}

// RestingOrder is an order on the book.
type RestingOrder struct {
	ID        int64
	Owner     int64
	Side      Side
	Price     money.Amount
	Remaining money.Amount
}

// Level is one aggregated price level.
type Level struct {
	Price    money.Amount
	Quantity money.Amount
	Orders   int
}

// The sequencer's internal protocol carries these as JSON between replicas.
// Replicas of the release before wrote them as numbers; reading both lets
// a rolling update mix the two.

// UnmarshalJSON reads a side as its name or its number.
func (s *Side) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, (*uint8)(s), s.UnmarshalText) }

// UnmarshalJSON reads a kind as its name or its number.
func (k *Kind) UnmarshalJSON(b []byte) error { return unmarshalEnum(b, (*uint8)(k), k.UnmarshalText) }

// UnmarshalJSON reads a time in force as its name or its number.
func (t *TimeInForce) UnmarshalJSON(b []byte) error {
	return unmarshalEnum(b, (*uint8)(t), t.UnmarshalText)
}

func unmarshalEnum(b []byte, n *uint8, text func([]byte) error) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return text(b[1 : len(b)-1])
	}
	v, err := strconv.ParseUint(string(b), 10, 8)
	if err != nil {
		return fmt.Errorf("engine: %s is neither a name nor a number", b)
	}
	*n = uint8(v)
	return nil
}
