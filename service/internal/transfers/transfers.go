// Package transfers owns the deposits and withdrawals tables: money
// arriving from outside and leaving to outside addresses. Requests and
// decisions on them go through the sequencer (they change balances); this
// package holds their vocabulary, the reads, the loaders the sequencer's
// rebuild needs, and the batch writer it calls.
package transfers

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// DepositStatus is where a deposit is.
type DepositStatus string

const (
	DepositPending  DepositStatus = "pending"
	DepositCredited DepositStatus = "credited"
	DepositRejected DepositStatus = "rejected"
)

// WithdrawalStatus is where a withdrawal is.
type WithdrawalStatus string

const (
	WithdrawalPending   WithdrawalStatus = "pending"
	WithdrawalCompleted WithdrawalStatus = "completed"
	WithdrawalRejected  WithdrawalStatus = "rejected"
	// WithdrawalCancelled is a withdrawal its owner took back while it
	// was pending: the hold returned, as on a rejection.
	WithdrawalCancelled WithdrawalStatus = "cancelled"
)

// Deposit is money arriving from outside.
type Deposit struct {
	ID        int64         `json:"id,string"`
	UserID    int64         `json:"user_id,string"`
	AccountID int64         `json:"-" gorm:"-"`
	Asset     string        `json:"asset"`
	Amount    money.Amount  `json:"amount"`
	Status    DepositStatus `json:"status"`
	EntryID   *int64        `json:"-"`
	// ApprovedBy is the first of the two admins a credit needs.
	ApprovedBy *int64    `json:"approved_by,omitempty,string"`
	ReviewedBy *int64    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Withdrawal is money leaving to an outside address.
type Withdrawal struct {
	ID           int64            `json:"id,string"`
	UserID       int64            `json:"user_id,string"`
	AccountID    int64            `json:"-" gorm:"-"`
	Asset        string           `json:"asset"`
	Amount       money.Amount     `json:"amount"`
	Address      string           `json:"address"`
	Status       WithdrawalStatus `json:"status"`
	Reason       string           `json:"reason,omitempty"`
	HoldEntryID  int64            `json:"-"`
	FinalEntryID *int64           `json:"-"`
	// ApprovedBy is the first of the two admins a withdrawal needs.
	ApprovedBy *int64    `json:"approved_by,omitempty,string"`
	ReviewedBy *int64    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// AdjustmentStatus is where an adjustment is.
type AdjustmentStatus string

const (
	AdjustmentPending  AdjustmentStatus = "pending"
	AdjustmentApplied  AdjustmentStatus = "applied"
	AdjustmentRejected AdjustmentStatus = "rejected"
)

// Adjustment is a correction of a user's balance, proposed by one admin
// and applied or rejected by another.
type Adjustment struct {
	ID         int64            `json:"id,string"`
	UserID     int64            `json:"user_id,string"`
	AccountID  int64            `json:"-" gorm:"-"`
	Asset      string           `json:"asset"`
	Amount     money.Amount     `json:"amount"`
	Reason     string           `json:"reason"`
	Status     AdjustmentStatus `json:"status"`
	ProposedBy int64            `json:"proposed_by,string"`
	ReviewedBy *int64           `json:"reviewed_by,omitempty,string"`
	EntryID    *int64           `json:"entry_id,omitempty,string"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
}

// Adjustments lists adjustments, optionally by status.
func Adjustments(ctx context.Context, db *gorm.DB, status AdjustmentStatus, p Page) ([]Adjustment, error) {
	var out []Adjustment
	if err := listQuery(db.WithContext(ctx), 0, string(status), p).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list adjustments: %w", err)
	}
	return out, nil
}

// Page is a keyset page: items with id below Before, newest first.
type Page struct {
	Before int64 // 0 means from the newest
	Limit  int
}

// Deposits lists a user's deposits (userID 0: everyone's), optionally by status.
func Deposits(ctx context.Context, db *gorm.DB, userID int64, status DepositStatus, p Page) ([]Deposit, error) {
	var out []Deposit
	if err := listQuery(db.WithContext(ctx), userID, string(status), p).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list deposits: %w", err)
	}
	return out, nil
}

// Withdrawals lists a user's withdrawals (userID 0: everyone's), optionally by status.
func Withdrawals(ctx context.Context, db *gorm.DB, userID int64, status WithdrawalStatus, p Page) ([]Withdrawal, error) {
	var out []Withdrawal
	if err := listQuery(db.WithContext(ctx), userID, string(status), p).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list withdrawals: %w", err)
	}
	return out, nil
}

func listQuery(q *gorm.DB, userID int64, status string, p Page) *gorm.DB {
	if userID != 0 {
		q = q.Where("user_id = ?", userID)
	}
	if status != "" {
		q = q.Where("status = ?", status)
	}
	if p.Before > 0 {
		q = q.Where("id < ?", p.Before)
	}
	return q.Order("id DESC").Limit(p.Limit)
}

// What an owner sees of their own transfers: whether the first of the two
// approvals is given, never which admin gave it (staff identities stay
// inside the exchange; the admin views show them).

// OwnerDeposit is a deposit as its owner sees it.
type OwnerDeposit struct {
	ID           int64         `json:"id,string"`
	UserID       int64         `json:"user_id,string"`
	Asset        string        `json:"asset"`
	Amount       money.Amount  `json:"amount"`
	Status       DepositStatus `json:"status"`
	ApprovedOnce bool          `json:"approved_once,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// ForOwner is the deposit as its owner may see it.
func (d Deposit) ForOwner() OwnerDeposit {
	return OwnerDeposit{ID: d.ID, UserID: d.UserID, Asset: d.Asset, Amount: d.Amount, Status: d.Status,
		ApprovedOnce: d.ApprovedBy != nil, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// OwnerWithdrawal is a withdrawal as its owner sees it.
type OwnerWithdrawal struct {
	ID           int64            `json:"id,string"`
	UserID       int64            `json:"user_id,string"`
	Asset        string           `json:"asset"`
	Amount       money.Amount     `json:"amount"`
	Address      string           `json:"address"`
	Status       WithdrawalStatus `json:"status"`
	Reason       string           `json:"reason,omitempty"`
	ApprovedOnce bool             `json:"approved_once,omitempty"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
}

// ForOwner is the withdrawal as its owner may see it.
func (w Withdrawal) ForOwner() OwnerWithdrawal {
	return OwnerWithdrawal{ID: w.ID, UserID: w.UserID, Asset: w.Asset, Amount: w.Amount, Address: w.Address,
		Status: w.Status, Reason: w.Reason, ApprovedOnce: w.ApprovedBy != nil, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}
