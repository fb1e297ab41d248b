// Package sequencer is the exchange's single writer of everything that
// changes a balance. One replica at a time, elected through a PostgreSQL
// advisory lock, holds the order books and every balance in memory (the
// engine and risk packages), applies commands in batches, and hands what a
// batch changed to each table's owner to write (orders, ledger, transfers,
// audit, catalog) in one transaction on the very connection that holds
// the lock, so a replica that lost the lock can never commit. Clients are
// answered only after their batch committed. On start or failover the
// state is rebuilt from the database: there is no snapshot that could
// drift from the data.
package sequencer

import (
	"errors"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// Command is one request to change books or balances. Exactly one field is set.
type Command struct {
	Place            *Place            `json:"place,omitempty"`
	Cancel           *Cancel           `json:"cancel,omitempty"`
	CancelAll        *CancelAll        `json:"cancel_all,omitempty"`
	MarketStatus     *MarketStatus     `json:"market_status,omitempty"`
	Deposit          *Deposit          `json:"deposit,omitempty"`
	ReviewDeposit    *ReviewDeposit    `json:"review_deposit,omitempty"`
	Withdraw         *Withdraw         `json:"withdraw,omitempty"`
	ReviewWithdrawal *ReviewWithdrawal `json:"review_withdrawal,omitempty"`
	CancelWithdrawal *CancelWithdrawal `json:"cancel_withdrawal,omitempty"`
	Adjust           *Adjust           `json:"adjust,omitempty"`
	ReviewAdjustment *ReviewAdjustment `json:"review_adjustment,omitempty"`
	Snapshot         *Snapshot         `json:"snapshot,omitempty"`
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
	// Reason is why (default: the user asked).
	Reason orders.CancelReason `json:"reason,omitempty"`
}

// MarketStatus halts or resumes a market. A halted market refuses new
// orders; cancels still work.
type MarketStatus struct {
	Market  string `json:"market"`
	Status  string `json:"status"`
	AdminID int64  `json:"admin_id,omitempty"`
}

// Deposit records money arriving for an account: credited at once in
// demo mode, pending an admin's review otherwise.
type Deposit struct {
	UserID    int64        `json:"user_id"`
	AccountID int64        `json:"account_id"`
	Asset     string       `json:"asset"`
	Amount    money.Amount `json:"amount"`
	Demo      bool         `json:"demo,omitempty"`
}

// ReviewDeposit approves or rejects a pending deposit. The first approval
// is recorded; a second, by another admin, credits it.
type ReviewDeposit struct {
	AdminID   int64 `json:"admin_id"`
	DepositID int64 `json:"deposit_id"`
	Approve   bool  `json:"approve"`
}

// Withdraw holds an amount at once and records a pending withdrawal.
type Withdraw struct {
	UserID    int64        `json:"user_id"`
	AccountID int64        `json:"account_id"`
	Asset     string       `json:"asset"`
	Amount    money.Amount `json:"amount"`
	Address   string       `json:"address"`
}

// ReviewWithdrawal approves or rejects (the funds return) a pending
// withdrawal. The first approval is recorded; a second, by another admin,
// completes it (the funds leave).
type ReviewWithdrawal struct {
	AdminID      int64  `json:"admin_id"`
	WithdrawalID int64  `json:"withdrawal_id"`
	Approve      bool   `json:"approve"`
	Reason       string `json:"reason,omitempty"`
}

// CancelWithdrawal is the owner taking back a pending withdrawal: the
// hold returns to available as on a rejection.
type CancelWithdrawal struct {
	UserID       int64 `json:"user_id"`
	WithdrawalID int64 `json:"withdrawal_id"`
}

// Adjust proposes a correction of a user's available balance by a signed
// amount; another admin applies it (ReviewAdjustment).
type Adjust struct {
	AdminID   int64        `json:"admin_id"`
	UserID    int64        `json:"user_id"`
	AccountID int64        `json:"account_id"`
	Asset     string       `json:"asset"`
	Amount    money.Amount `json:"amount"`
	Reason    string       `json:"reason"`
}

// ReviewAdjustment applies or rejects a proposed adjustment.
type ReviewAdjustment struct {
	AdminID      int64 `json:"admin_id"`
	AdjustmentID int64 `json:"adjustment_id"`
	Approve      bool  `json:"approve"`
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
	// the caller's); the caller reads its current state from the database,
	// unless Orders holds it: the caller's order closed recently, with its
	// id, owner and final status only.
	NotOpen bool `json:"not_open,omitempty"`
	// Deposit and Withdrawal are the transfer a command created or decided.
	Deposit    *transfers.Deposit    `json:"deposit,omitempty"`
	Withdrawal *transfers.Withdrawal `json:"withdrawal,omitempty"`
	Adjustment *transfers.Adjustment `json:"adjustment,omitempty"`
	// Snapshot is the proof-of-liabilities snapshot a Snapshot took.
	Snapshot *SnapshotTaken `json:"snapshot,omitempty"`
	// Error is a client error: the command was refused and changed nothing.
	Error *apierr.Error `json:"error,omitempty"`
}

// ErrNotLeader means this replica is not (or no longer) the sequencer, and
// the command was not applied: it is safe to send it to the leader.
var ErrNotLeader = errors.New("sequencer: not the leader")

// ErrUnavailable means no leader answered in time. The command may or may
// not have been applied; a client can look its order up by client_order_id.
var ErrUnavailable = apierr.New(apierr.SequencerUnavailable, "the matching engine is not reachable right now; retry, using client_order_id to stay idempotent")
