// Package wallet moves money in and out of the exchange: deposits,
// withdrawals with a daily limit, and admin adjustments. Each movement is a
// ledger entry posted in the same transaction as the record that explains it.
package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Deposit statuses.
const (
	DepositPending  = "pending"
	DepositCredited = "credited"
	DepositRejected = "rejected"
)

// Withdrawal statuses.
const (
	WithdrawalPending   = "pending"
	WithdrawalCompleted = "completed"
	WithdrawalRejected  = "rejected"
)

// Deposit is money arriving from outside.
type Deposit struct {
	ID         int64        `json:"id,string"`
	UserID     int64        `json:"user_id,string"`
	Asset      string       `json:"asset"`
	Amount     money.Amount `json:"amount"`
	Status     string       `json:"status"`
	EntryID    *int64       `json:"-"`
	ReviewedBy *int64       `json:"-"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

// Withdrawal is money leaving to an outside address.
type Withdrawal struct {
	ID           int64        `json:"id,string"`
	UserID       int64        `json:"user_id,string"`
	Asset        string       `json:"asset"`
	Amount       money.Amount `json:"amount"`
	Address      string       `json:"address"`
	Status       string       `json:"status"`
	Reason       string       `json:"reason,omitempty"`
	HoldEntryID  int64        `json:"-"`
	FinalEntryID *int64       `json:"-"`
	ReviewedBy   *int64       `json:"-"`
	CreatedAt    time.Time    `json:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at"`
}

// Service implements the wallet operations.
type Service struct {
	db   *gorm.DB
	mode config.Mode
	now  func() time.Time
}

// New builds the service for the exchange's mode.
func New(db *gorm.DB, mode config.Mode, now func() time.Time) *Service {
	return &Service{db: db, mode: mode, now: now}
}

// Deposit records a deposit. In demo mode it is credited at once; in live
// mode it waits for an admin.
func (s *Service) Deposit(ctx context.Context, o auth.Owner, symbol, rawAmount string) (Deposit, error) {
	asset, err := catalog.AssetBySymbol(ctx, s.db, symbol)
	if err != nil {
		return Deposit{}, err
	}
	amount, err := asset.ParseAmount(rawAmount)
	if err != nil {
		return Deposit{}, err
	}
	if amount > asset.DepositMax {
		return Deposit{}, apierr.New(apierr.LimitExceeded, "a single %s deposit is at most %s", asset.Symbol, asset.DepositMax)
	}
	now := s.now()
	d := Deposit{UserID: o.UserID, Asset: asset.Symbol, Amount: amount, Status: DepositPending, CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.mode == config.ModeDemo {
			if err := checkBalanceCap(tx, o.AccountID, asset, amount); err != nil {
				return err
			}
			id, err := ledger.Post(ctx, tx, ledger.Entry{Kind: "deposit", Memo: "demo deposit",
				Legs: ledger.Transfer(asset.Symbol, amount, ledger.ExternalAccount, ledger.Available, o.AccountID, ledger.Available)})
			if err != nil {
				return err
			}
			d.Status, d.EntryID = DepositCredited, &id
		}
		return tx.Create(&d).Error
	})
	if err != nil {
		return Deposit{}, wrap("deposit", err)
	}
	return d, nil
}

// ReviewDeposit credits (approve) or rejects a pending deposit. An admin
// cannot decide their own deposit: another admin must (four eyes).
func (s *Service) ReviewDeposit(ctx context.Context, adminID, depositID int64, approve bool) (Deposit, error) {
	var d Deposit
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockPending(tx, &d, depositID, "deposit"); err != nil {
			return err
		}
		if d.UserID == adminID {
			return errFourEyes("deposit")
		}
		d.Status, d.ReviewedBy, d.UpdatedAt = DepositRejected, &adminID, s.now()
		if approve {
			account, err := accountOf(tx, d.UserID)
			if err != nil {
				return err
			}
			asset, err := catalog.AssetBySymbol(ctx, tx, d.Asset)
			if err != nil {
				return err
			}
			if err := checkBalanceCap(tx, account, asset, d.Amount); err != nil {
				return err
			}
			id, err := ledger.Post(ctx, tx, ledger.Entry{Kind: "deposit", Memo: fmt.Sprintf("deposit %d approved", d.ID), CreatedBy: &adminID,
				Legs: ledger.Transfer(d.Asset, d.Amount, ledger.ExternalAccount, ledger.Available, account, ledger.Available)})
			if err != nil {
				return err
			}
			d.Status, d.EntryID = DepositCredited, &id
		}
		if err := auth.Audit(tx, adminID, "deposit_"+d.Status, &d.UserID, fmt.Sprintf("deposit %d", d.ID), fmt.Sprintf("%s %s", d.Amount, d.Asset)); err != nil {
			return err
		}
		return tx.Save(&d).Error
	})
	if err != nil {
		return Deposit{}, wrap("review deposit", err)
	}
	return d, nil
}

var addressPattern = regexp.MustCompile(`^[A-Za-z0-9:._-]{8,128}$`)

// RequestWithdrawal holds the funds at once and records the withdrawal as
// pending. The user's balance row is locked before the daily total is read,
// so concurrent requests cannot together exceed the balance or the limit.
func (s *Service) RequestWithdrawal(ctx context.Context, o auth.Owner, symbol, rawAmount, address string) (Withdrawal, error) {
	asset, err := catalog.AssetBySymbol(ctx, s.db, symbol)
	if err != nil {
		return Withdrawal{}, err
	}
	amount, err := asset.ParseAmount(rawAmount)
	if err != nil {
		return Withdrawal{}, err
	}
	if !addressPattern.MatchString(address) {
		return Withdrawal{}, apierr.New(apierr.InvalidAddress, "address must be 8 to 128 characters of letters, digits and : . _ -")
	}
	now := s.now()
	w := Withdrawal{UserID: o.UserID, Asset: asset.Symbol, Amount: amount, Address: address, Status: WithdrawalPending, CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT 1 FROM balances WHERE account_id = ? AND asset = ? FOR UPDATE", o.AccountID, asset.Symbol).Error; err != nil {
			return err
		}
		dayStart := now.UTC().Truncate(24 * time.Hour)
		var today money.Amount
		if err := tx.Raw(`SELECT coalesce(sum(amount), 0) FROM withdrawals
			WHERE user_id = ? AND asset = ? AND status <> 'rejected' AND created_at >= ?`, o.UserID, asset.Symbol, dayStart).
			Row().Scan(&today); err != nil {
			return err
		}
		total, err := today.Add(amount)
		if err != nil || total > asset.WithdrawalDailyLimit {
			left := max(asset.WithdrawalDailyLimit-today, 0)
			return apierr.New(apierr.LimitExceeded, "daily %s withdrawal limit is %s; %s left today", asset.Symbol, asset.WithdrawalDailyLimit, left)
		}
		id, err := ledger.Post(ctx, tx, ledger.Entry{Kind: "withdrawal_hold", Memo: "withdrawal requested",
			Legs: ledger.Transfer(asset.Symbol, amount, o.AccountID, ledger.Available, o.AccountID, ledger.Held)})
		if err != nil {
			return err
		}
		w.HoldEntryID = id
		return tx.Create(&w).Error
	})
	if err != nil {
		return Withdrawal{}, wrap("withdrawal", err)
	}
	return w, nil
}

// ReviewWithdrawal completes (the funds leave) or rejects (they return) a
// pending withdrawal. An admin cannot decide their own withdrawal:
// another admin must (four eyes).
func (s *Service) ReviewWithdrawal(ctx context.Context, adminID, withdrawalID int64, approve bool, reason string) (Withdrawal, error) {
	if !approve && reason == "" {
		return Withdrawal{}, apierr.New(apierr.InvalidRequest, "a rejection needs a reason")
	}
	var w Withdrawal
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockPending(tx, &w, withdrawalID, "withdrawal"); err != nil {
			return err
		}
		if w.UserID == adminID {
			return errFourEyes("withdrawal")
		}
		account, err := accountOf(tx, w.UserID)
		if err != nil {
			return err
		}
		entry := ledger.Entry{Kind: "withdrawal_complete", Memo: fmt.Sprintf("withdrawal %d sent", w.ID), CreatedBy: &adminID,
			Legs: ledger.Transfer(w.Asset, w.Amount, account, ledger.Held, ledger.ExternalAccount, ledger.Available)}
		w.Status = WithdrawalCompleted
		if !approve {
			entry = ledger.Entry{Kind: "withdrawal_reject", Memo: fmt.Sprintf("withdrawal %d rejected", w.ID), CreatedBy: &adminID,
				Legs: ledger.Transfer(w.Asset, w.Amount, account, ledger.Held, account, ledger.Available)}
			w.Status = WithdrawalRejected
		}
		id, err := ledger.Post(ctx, tx, entry)
		if err != nil {
			return err
		}
		w.FinalEntryID, w.ReviewedBy, w.Reason, w.UpdatedAt = &id, &adminID, reason, s.now()
		if err := auth.Audit(tx, adminID, "withdrawal_"+w.Status, &w.UserID, fmt.Sprintf("withdrawal %d", w.ID), fmt.Sprintf("%s %s %s", w.Amount, w.Asset, reason)); err != nil {
			return err
		}
		return tx.Save(&w).Error
	})
	if err != nil {
		return Withdrawal{}, wrap("review withdrawal", err)
	}
	return w, nil
}

// Adjust corrects a user's available balance by a signed amount, with a
// mandatory reason that stays in the journal and the audit trail. No admin
// adjusts their own account: another admin must (four eyes).
func (s *Service) Adjust(ctx context.Context, adminID, userID int64, symbol, rawAmount, reason string) (int64, error) {
	if len(reason) < 5 {
		return 0, apierr.New(apierr.InvalidRequest, "an adjustment needs a reason of at least 5 characters")
	}
	if userID == adminID {
		return 0, errFourEyes("adjustment")
	}
	asset, err := catalog.AssetBySymbol(ctx, s.db, symbol)
	if err != nil {
		return 0, err
	}
	amount, err := money.Parse(rawAmount)
	if err != nil || amount == 0 || !amount.FitsPrecision(asset.Precision) {
		return 0, apierr.New(apierr.InvalidAmount, "amount must be a non-zero decimal string with at most %d decimals", asset.Precision)
	}
	var entryID int64
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		account, err := accountOf(tx, userID)
		if err != nil {
			return err
		}
		if amount > 0 {
			if err := checkBalanceCap(tx, account, asset, amount); err != nil {
				return err
			}
		}
		entryID, err = ledger.Post(ctx, tx, ledger.Entry{Kind: "adjustment", Memo: reason, CreatedBy: &adminID,
			Legs: ledger.Transfer(asset.Symbol, amount, ledger.ExternalAccount, ledger.Available, account, ledger.Available)})
		if err != nil {
			return err
		}
		return auth.Audit(tx, adminID, "adjustment", &userID, fmt.Sprintf("entry %d", entryID), fmt.Sprintf("%s %s: %s", amount, asset.Symbol, reason))
	})
	if err != nil {
		return 0, wrap("adjustment", err)
	}
	return entryID, nil
}

// Page is a keyset page: items with id below Before, newest first.
type Page struct {
	Before int64 // 0 means from the newest
	Limit  int
}

// Deposits lists a user's deposits (userID 0: everyone's), optionally by status.
func (s *Service) Deposits(ctx context.Context, userID int64, status string, p Page) ([]Deposit, error) {
	var out []Deposit
	return out, wrap("list deposits", listQuery(s.db.WithContext(ctx), userID, status, p).Find(&out).Error)
}

// Withdrawals lists a user's withdrawals (userID 0: everyone's), optionally by status.
func (s *Service) Withdrawals(ctx context.Context, userID int64, status string, p Page) ([]Withdrawal, error) {
	var out []Withdrawal
	return out, wrap("list withdrawals", listQuery(s.db.WithContext(ctx), userID, status, p).Find(&out).Error)
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

func lockPending[T Deposit | Withdrawal](tx *gorm.DB, row *T, id int64, what string) error {
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(row, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return apierr.New(apierr.NotFound, "%s %d not found", what, id)
	}
	if err != nil {
		return err
	}
	var status string
	switch r := any(row).(type) {
	case *Deposit:
		status = r.Status
	case *Withdrawal:
		status = r.Status
	}
	if status != "pending" {
		return apierr.New(apierr.Conflict, "%s %d is already %s", what, id, status)
	}
	return nil
}

func errFourEyes(what string) error {
	return apierr.New(apierr.FourEyesRequired, "admins cannot decide their own %s; another admin must (four eyes)", what)
}

// checkBalanceCap refuses a credit that would take the account's balance
// of the asset (available and held) above the asset's cap. It locks the
// balance row, so concurrent credits are counted one after the other.
func checkBalanceCap(tx *gorm.DB, account int64, asset catalog.Asset, credit money.Amount) error {
	var total money.Amount
	if err := tx.Raw("SELECT coalesce(sum(available + held), 0) FROM (SELECT available, held FROM balances WHERE account_id = ? AND asset = ? FOR UPDATE) b",
		account, asset.Symbol).Row().Scan(&total); err != nil {
		return fmt.Errorf("read balance for the cap: %w", err)
	}
	if after, err := total.Add(credit); err != nil || after > asset.BalanceMax {
		return apierr.New(apierr.LimitExceeded, "an account holds at most %s %s; it holds %s now", asset.BalanceMax, asset.Symbol, total)
	}
	return nil
}

func accountOf(tx *gorm.DB, userID int64) (int64, error) {
	var id int64
	err := tx.Raw("SELECT id FROM accounts WHERE user_id = ?", userID).Row().Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apierr.New(apierr.NotFound, "user %d not found", userID)
	}
	if err != nil {
		return 0, fmt.Errorf("account of user %d: %w", userID, err)
	}
	return id, nil
}

// wrap adds context to faults but passes client errors through unchanged.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apierr.As(err); ok {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
