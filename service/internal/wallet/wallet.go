// Package wallet is the application service for money in and out of the
// exchange: deposits, withdrawals with a daily limit, and admin
// adjustments. It checks a request, then hands it to the sequencer, which
// alone changes balances (and so moves the money and records the transfer
// in one transaction); reads come from the transfers and ledger tables.
package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// Service implements the wallet operations.
type Service struct {
	db *gorm.DB
	// reads serves the admin lists, which tolerate a little lag.
	reads *database.Reads
	seq   *sequencer.Client
	mode  config.Mode
	now   func() time.Time
}

// New builds the service for the exchange's mode.
func New(db *gorm.DB, reads *database.Reads, seq *sequencer.Client, mode config.Mode, now func() time.Time) *Service {
	return &Service{db: db, reads: reads, seq: seq, mode: mode, now: now}
}

// listDB is where a list is read: a user's own from the primary, so that
// it shows what they just did; everyone's (the admin lists) from where
// lag-tolerant reads go.
func (s *Service) listDB(userID int64) *gorm.DB {
	if userID == 0 {
		return s.reads.DB()
	}
	return s.db
}

// submit sends a command and turns the sequencer's refusal into the error.
func (s *Service) submit(ctx context.Context, cmd sequencer.Command) (sequencer.Result, error) {
	res, err := s.seq.Submit(ctx, cmd)
	if err != nil {
		return res, err
	}
	if res.Error != nil {
		return res, res.Error
	}
	return res, nil
}

// Deposit records a deposit. In demo mode it is credited at once; in live
// mode it waits for an admin.
func (s *Service) Deposit(ctx context.Context, o auth.Owner, symbol, rawAmount string) (transfers.Deposit, error) {
	asset, err := catalog.AssetBySymbol(ctx, s.db, symbol)
	if err != nil {
		return transfers.Deposit{}, err
	}
	amount, err := asset.ParseAmount(rawAmount)
	if err != nil {
		return transfers.Deposit{}, err
	}
	res, err := s.submit(ctx, sequencer.Command{Deposit: &sequencer.Deposit{
		UserID: o.UserID, AccountID: o.AccountID, Asset: asset.Symbol, Amount: amount, Demo: s.mode == config.ModeDemo,
	}})
	if err != nil {
		return transfers.Deposit{}, err
	}
	return *res.Deposit, nil
}

// ReviewDeposit approves or rejects a pending deposit. A credit takes two
// approvals by different admins, neither the depositor (four eyes): the
// first is recorded, the second credits.
func (s *Service) ReviewDeposit(ctx context.Context, adminID, depositID int64, approve bool) (transfers.Deposit, error) {
	var d transfers.Deposit
	if err := s.pending(ctx, &d, depositID, "deposit"); err != nil {
		return d, err
	}
	res, err := s.submit(ctx, sequencer.Command{ReviewDeposit: &sequencer.ReviewDeposit{AdminID: adminID, DepositID: depositID, Approve: approve}})
	if err != nil {
		return transfers.Deposit{}, err
	}
	return *res.Deposit, nil
}

var addressPattern = regexp.MustCompile(`^[A-Za-z0-9:._-]{8,128}$`)

// RequestWithdrawal holds the funds at once and records the withdrawal as
// pending. The sequencer checks the balance and the daily limit as it
// applies the request, so concurrent requests cannot together exceed
// either.
func (s *Service) RequestWithdrawal(ctx context.Context, o auth.Owner, symbol, rawAmount, address string) (transfers.Withdrawal, error) {
	asset, err := catalog.AssetBySymbol(ctx, s.db, symbol)
	if err != nil {
		return transfers.Withdrawal{}, err
	}
	amount, err := asset.ParseAmount(rawAmount)
	if err != nil {
		return transfers.Withdrawal{}, err
	}
	if !addressPattern.MatchString(address) {
		return transfers.Withdrawal{}, apierr.New(apierr.InvalidAddress, "address must be 8 to 128 characters of letters, digits and : . _ -")
	}
	res, err := s.submit(ctx, sequencer.Command{Withdraw: &sequencer.Withdraw{
		UserID: o.UserID, AccountID: o.AccountID, Asset: asset.Symbol, Amount: amount, Address: address,
	}})
	if err != nil {
		return transfers.Withdrawal{}, err
	}
	return *res.Withdrawal, nil
}

// ReviewWithdrawal approves or rejects (the funds return) a pending
// withdrawal. Sending takes two approvals by different admins, neither
// the owner (four eyes): the first is recorded, the second sends.
func (s *Service) ReviewWithdrawal(ctx context.Context, adminID, withdrawalID int64, approve bool, reason string) (transfers.Withdrawal, error) {
	if !approve && reason == "" {
		return transfers.Withdrawal{}, apierr.New(apierr.InvalidRequest, "a rejection needs a reason")
	}
	var w transfers.Withdrawal
	if err := s.pending(ctx, &w, withdrawalID, "withdrawal"); err != nil {
		return w, err
	}
	res, err := s.submit(ctx, sequencer.Command{ReviewWithdrawal: &sequencer.ReviewWithdrawal{
		AdminID: adminID, WithdrawalID: withdrawalID, Approve: approve, Reason: reason,
	}})
	if err != nil {
		return transfers.Withdrawal{}, err
	}
	return *res.Withdrawal, nil
}

// CancelWithdrawal is the owner taking back a pending withdrawal: the
// hold returns to available by the path an admin's rejection takes. A
// withdrawal of someone else is not found (404); one already decided,
// or decided by an approval racing this cancel, is a conflict (409).
func (s *Service) CancelWithdrawal(ctx context.Context, o auth.Owner, withdrawalID int64) (transfers.Withdrawal, error) {
	var w transfers.Withdrawal
	err := s.db.WithContext(ctx).Where("user_id = ?", o.UserID).Take(&w, withdrawalID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return w, apierr.New(apierr.NotFound, "withdrawal %d not found", withdrawalID)
	}
	if err != nil {
		return w, fmt.Errorf("read withdrawal %d: %w", withdrawalID, err)
	}
	if w.Status != transfers.WithdrawalPending {
		return w, apierr.New(apierr.Conflict, "withdrawal %d is already %s", withdrawalID, w.Status)
	}
	res, err := s.submit(ctx, sequencer.Command{CancelWithdrawal: &sequencer.CancelWithdrawal{UserID: o.UserID, WithdrawalID: withdrawalID}})
	if err != nil {
		return transfers.Withdrawal{}, err
	}
	return *res.Withdrawal, nil
}

// Adjust proposes a correction of a user's available balance by a signed
// amount, with a mandatory reason that stays in the journal and the audit
// trail. Another admin, neither the proposer nor the user, applies it
// (ReviewAdjustment): four eyes.
func (s *Service) Adjust(ctx context.Context, adminID, userID int64, symbol, rawAmount, reason string) (transfers.Adjustment, error) {
	if len(reason) < 5 {
		return transfers.Adjustment{}, apierr.New(apierr.InvalidRequest, "an adjustment needs a reason of at least 5 characters")
	}
	asset, err := catalog.AssetBySymbol(ctx, s.db, symbol)
	if err != nil {
		return transfers.Adjustment{}, err
	}
	amount, err := money.Parse(rawAmount)
	if err != nil || amount == 0 || !amount.FitsPrecision(asset.Precision) {
		return transfers.Adjustment{}, apierr.New(apierr.InvalidAmount, "amount must be a non-zero decimal string with at most %d decimals", asset.Precision)
	}
	account, err := s.accountOf(ctx, userID)
	if err != nil {
		return transfers.Adjustment{}, err
	}
	res, err := s.submit(ctx, sequencer.Command{Adjust: &sequencer.Adjust{
		AdminID: adminID, UserID: userID, AccountID: account, Asset: asset.Symbol, Amount: amount, Reason: reason,
	}})
	if err != nil {
		return transfers.Adjustment{}, err
	}
	return *res.Adjustment, nil
}

// ReviewAdjustment applies or rejects a proposed adjustment.
func (s *Service) ReviewAdjustment(ctx context.Context, adminID, adjustmentID int64, approve bool) (transfers.Adjustment, error) {
	var j transfers.Adjustment
	if err := s.pending(ctx, &j, adjustmentID, "adjustment"); err != nil {
		return j, err
	}
	res, err := s.submit(ctx, sequencer.Command{ReviewAdjustment: &sequencer.ReviewAdjustment{AdminID: adminID, AdjustmentID: adjustmentID, Approve: approve}})
	if err != nil {
		return transfers.Adjustment{}, err
	}
	return *res.Adjustment, nil
}

// Adjustments lists adjustments, optionally by status.
func (s *Service) Adjustments(ctx context.Context, status transfers.AdjustmentStatus, p transfers.Page) ([]transfers.Adjustment, error) {
	return transfers.Adjustments(ctx, s.reads.DB(), status, p)
}

// Deposits lists a user's deposits (userID 0: everyone's), optionally by status.
func (s *Service) Deposits(ctx context.Context, userID int64, status transfers.DepositStatus, p transfers.Page) ([]transfers.Deposit, error) {
	return transfers.Deposits(ctx, s.listDB(userID), userID, status, p)
}

// Withdrawals lists a user's withdrawals (userID 0: everyone's), optionally by status.
func (s *Service) Withdrawals(ctx context.Context, userID int64, status transfers.WithdrawalStatus, p transfers.Page) ([]transfers.Withdrawal, error) {
	return transfers.Withdrawals(ctx, s.listDB(userID), userID, status, p)
}

// pending reads a transfer and says why it cannot be decided: there is
// none (404), or it was decided already (409). The sequencer checks again
// as it applies the decision, for decisions that race.
func (s *Service) pending(ctx context.Context, row any, id int64, what string) error {
	err := s.db.WithContext(ctx).Take(row, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return apierr.New(apierr.NotFound, "%s %d not found", what, id)
	}
	if err != nil {
		return fmt.Errorf("read %s %d: %w", what, id, err)
	}
	var status string
	switch r := row.(type) {
	case *transfers.Deposit:
		status = string(r.Status)
	case *transfers.Withdrawal:
		status = string(r.Status)
	case *transfers.Adjustment:
		status = string(r.Status)
	}
	if status != "pending" {
		return apierr.New(apierr.Conflict, "%s %d is already %s", what, id, status)
	}
	return nil
}

func (s *Service) accountOf(ctx context.Context, userID int64) (int64, error) {
	var id int64
	err := s.db.WithContext(ctx).Raw("SELECT id FROM accounts WHERE user_id = ?", userID).Row().Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apierr.New(apierr.NotFound, "user %d not found", userID)
	}
	if err != nil {
		return 0, fmt.Errorf("account of user %d: %w", userID, err)
	}
	return id, nil
}
