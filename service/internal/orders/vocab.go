package orders

import "fmt"

// Status is where an order is in its life. Refused orders are answered
// with a 4xx and never stored, so they leave no trace.
type Status uint8

const (
	StatusOpen Status = iota + 1
	StatusPartiallyFilled
	StatusFilled
	StatusCancelled
)

var statusNames = map[Status]string{
	StatusOpen: "open", StatusPartiallyFilled: "partially_filled", StatusFilled: "filled", StatusCancelled: "cancelled",
}

func (s Status) String() string { return statusNames[s] }

// Resting reports whether an order of this status is on the book.
func (s Status) Resting() bool { return s == StatusOpen || s == StatusPartiallyFilled }

// MarshalText writes the status as the API and the database name it.
func (s Status) MarshalText() ([]byte, error) {
	if n, ok := statusNames[s]; ok {
		return []byte(n), nil
	}
	return nil, s.unnamed()
}

func (s Status) unnamed() error { return fmt.Errorf("orders: status %d has no name", s) }

// UnmarshalText reads a status's name.
func (s *Status) UnmarshalText(b []byte) error {
	for k, n := range statusNames {
		if n == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("orders: unknown status %q", b)
}

// CancelReason says why a cancelled order ended. Orders cancelled before
// reasons were kept have none.
type CancelReason uint8

const (
	// CancelNone: the order was not cancelled (or before reasons were kept).
	CancelNone CancelReason = iota
	// CancelUser: its owner cancelled it (one order, or all).
	CancelUser
	// CancelSelfTrade: self-trade prevention cancelled the resting order
	// when its owner's own incoming order would have traded with it.
	CancelSelfTrade
	// CancelIOCRemainder: the part of an IOC or market order that did not
	// trade at once.
	CancelIOCRemainder
	// CancelFOKUnfilled: a fill-or-kill order that could not fill in full.
	CancelFOKUnfilled
	// CancelMarketHalted: the market was halted.
	CancelMarketHalted
	// CancelAdmin: an admin cancelled it.
	CancelAdmin
	// CancelDisconnect: the socket that asked for cancel-on-disconnect closed.
	CancelDisconnect
)

var reasonNames = map[CancelReason]string{
	CancelUser: "user", CancelSelfTrade: "self_trade_prevention", CancelIOCRemainder: "ioc_remainder",
	CancelFOKUnfilled: "fok_unfilled", CancelMarketHalted: "market_halted", CancelAdmin: "admin", CancelDisconnect: "disconnect",
}

func (r CancelReason) String() string { return reasonNames[r] }

// MarshalText writes the reason as the API and the database name it.
func (r CancelReason) MarshalText() ([]byte, error) { return []byte(reasonNames[r]), nil }

// UnmarshalText reads a reason's name; the empty name is CancelNone.
func (r *CancelReason) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = CancelNone
		return nil
	}
	for k, n := range reasonNames {
		if n == string(b) {
			*r = k
			return nil
		}
	}
	return fmt.Errorf("orders: unknown cancel reason %q", b)
}
