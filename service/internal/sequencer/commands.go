// Package sequencer is the exchange's single writer for trading. One
// replica at a time, elected through a PostgreSQL advisory lock, owns the
// order books in memory, applies commands in batches, and persists each
// batch (orders, trades, journal entries, balances) in one transaction on
// the very connection that holds the lock, so a replica that lost the lock
// can never commit. Clients are answered only after their batch committed.
// On start or failover the books are rebuilt from the open orders in
// Postgres: there is no snapshot that could drift from the data.
package sequencer

import (
	"errors"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// Command is one request to change books or balances. Exactly one field is set.
type Command struct {
	Place        *Place        `json:"place,omitempty"`
	Cancel       *Cancel       `json:"cancel,omitempty"`
	CancelAll    *CancelAll    `json:"cancel_all,omitempty"`
	MarketStatus *MarketStatus `json:"market_status,omitempty"`
}

// Place places an order. Order.ID and Order.Owner are assigned here.
type Place struct {
	UserID        int64        `json:"user_id"`
	AccountID     int64        `json:"account_id"`
	Market        string       `json:"market"`
	ClientOrderID string       `json:"client_order_id,omitempty"`
	Order         engine.Order `json:"order"`
}

// Cancel cancels one of the user's open orders.
type Cancel struct {
	UserID  int64 `json:"user_id"`
	OrderID int64 `json:"order_id"`
}

// CancelAll cancels the user's open orders, in one market or all.
type CancelAll struct {
	UserID    int64  `json:"user_id"`
	AccountID int64  `json:"account_id"`
	Market    string `json:"market,omitempty"`
}

// MarketStatus halts or resumes a market. A halted market refuses new
// orders; cancels still work.
type MarketStatus struct {
	Market string `json:"market"`
	Status string `json:"status"`
}

// Result is what a command did.
type Result struct {
	// Orders are the placed order, the cancelled order, or the orders a
	// cancel-all cancelled, in their state after the command.
	Orders []orders.Order `json:"orders,omitempty"`
	// Existing is set when a place repeated a client_order_id: Orders
	// holds the original order and nothing new happened.
	Existing bool `json:"existing,omitempty"`
	// NotOpen is set when a cancel found the order already closed (or not
	// the caller's); the caller reads its current state from the database.
	NotOpen bool `json:"not_open,omitempty"`
	// Error is a client error: the command was refused and changed nothing.
	Error *apierr.Error `json:"error,omitempty"`
}

// ErrNotLeader means this replica is not (or no longer) the sequencer, and
// the command was not applied: it is safe to send it to the leader.
var ErrNotLeader = errors.New("sequencer: not the leader")

// ErrUnavailable means no leader answered in time. The command may or may
// not have been applied; a client can look its order up by client_order_id.
var ErrUnavailable = apierr.New(apierr.SequencerUnavailable, "the matching engine is not reachable right now; retry, using client_order_id to stay idempotent")
