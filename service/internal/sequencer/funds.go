package sequencer

import (
	"fmt"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/audit"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/risk"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

func (s *state) asset(symbol string) (catalog.Asset, *apierr.Error) {
	a, ok := s.assets[symbol]
	if !ok {
		return a, apierr.New(apierr.UnknownAsset, "unknown asset %q", symbol)
	}
	return a, nil
}

// capCheck refuses a credit that would take an account's balance of the
// asset (available and held) above the asset's cap: nobody can push a
// shared total to the edge of the range, so nobody can make someone
// else's deposit fail.
func (s *state) capCheck(account int64, a catalog.Asset, credit money.Amount) *apierr.Error {
	total, err := s.balances.Get(risk.Key{Account: account, Asset: a.Symbol}).Total()
	if err == nil {
		total, err = total.Add(credit)
	}
	if err != nil || total > a.BalanceMax {
		held, _ := s.balances.Get(risk.Key{Account: account, Asset: a.Symbol}).Total()
		return apierr.New(apierr.LimitExceeded, "an account holds at most %s %s; it holds %s now", a.BalanceMax, a.Symbol, held)
	}
	return nil
}

func errFourEyes(what string) *apierr.Error {
	return apierr.New(apierr.FourEyesRequired, "admins cannot decide their own %s; another admin must (four eyes)", what)
}

// credit moves amount from the outside world to an account.
func (s *state) credit(b *batch, account int64, asset string, amount money.Amount, kind, memo string, by *int64) (int64, error) {
	var p risk.Postings
	p.Transfer(asset, amount, risk.ExternalAccount, risk.Available, account, risk.Available)
	return s.post(b, kind, memo, by, &p)
}

func (s *state) deposit(b *batch, c *Deposit) (Result, error) {
	a, e := s.asset(c.Asset)
	if e != nil {
		return refuse(e)
	}
	if c.Amount <= 0 || c.Amount > a.DepositMax {
		return refuse(apierr.New(apierr.LimitExceeded, "a single %s deposit is at most %s", a.Symbol, a.DepositMax))
	}
	d := &transfers.Deposit{UserID: c.UserID, AccountID: c.AccountID, Asset: a.Symbol, Amount: c.Amount,
		Status: transfers.DepositPending, CreatedAt: b.now, UpdatedAt: b.now}
	if c.Demo {
		if e := s.capCheck(c.AccountID, a, c.Amount); e != nil {
			return refuse(e)
		}
		id, err := s.credit(b, c.AccountID, a.Symbol, c.Amount, "deposit", "demo deposit", nil)
		if err != nil {
			return refusal(err)
		}
		d.Status, d.EntryID = transfers.DepositCredited, &id
	}
	d.ID = b.ids.deposits.take()
	if d.Status == transfers.DepositPending {
		s.pending.Deposits[d.ID] = d
	}
	b.transfers.CreatedDeposit(d)
	return Result{Deposit: d}, nil
}

// approval applies the four-eyes rule to a decision that lets money in or
// out: never the owner's own, and two different admins. It reports
// whether this approval is the second, which carries the decision out;
// the first is only recorded.
func approval(what string, owner, admin int64, first **int64) (bool, *apierr.Error) {
	switch {
	case owner == admin:
		return false, errFourEyes(what)
	case *first == nil:
		a := admin
		*first = &a
		return false, nil
	case **first == admin:
		return false, apierr.New(apierr.FourEyesRequired, "you approved this %s already; another admin must approve it too (four eyes)", what)
	}
	return true, nil
}

func (s *state) reviewDeposit(b *batch, c *ReviewDeposit) (Result, error) {
	d := s.pending.Deposits[c.DepositID]
	if d == nil {
		return refuse(apierr.New(apierr.Conflict, "deposit %d is not pending", c.DepositID))
	}
	if d.UserID == c.AdminID {
		return refuse(errFourEyes("deposit"))
	}
	status := transfers.DepositRejected
	if c.Approve {
		a, e := s.asset(d.Asset)
		if e != nil {
			return refuse(e)
		}
		if e := s.capCheck(d.AccountID, a, d.Amount); e != nil {
			return refuse(e)
		}
		second, e := approval("deposit", d.UserID, c.AdminID, &d.ApprovedBy)
		if e != nil {
			return refuse(e)
		}
		if !second {
			d.UpdatedAt = b.now
			b.transfers.DecidedDeposit(d)
			b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "deposit_approved_first", Target: &d.UserID,
				Subject: fmt.Sprintf("deposit %d", d.ID), Detail: fmt.Sprintf("%s %s", d.Amount, d.Asset)})
			return Result{Deposit: d}, nil
		}
		id, err := s.credit(b, d.AccountID, d.Asset, d.Amount, "deposit", fmt.Sprintf("deposit %d approved", d.ID), &c.AdminID)
		if err != nil {
			return refusal(err)
		}
		d.EntryID, status = &id, transfers.DepositCredited
	}
	reviewer := c.AdminID
	d.Status, d.ReviewedBy, d.UpdatedAt = status, &reviewer, b.now
	delete(s.pending.Deposits, d.ID)
	b.transfers.DecidedDeposit(d)
	b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "deposit_" + string(status), Target: &d.UserID,
		Subject: fmt.Sprintf("deposit %d", d.ID), Detail: fmt.Sprintf("%s %s", d.Amount, d.Asset)})
	return Result{Deposit: d}, nil
}

func (s *state) withdraw(b *batch, c *Withdraw) (Result, error) {
	a, e := s.asset(c.Asset)
	if e != nil {
		return refuse(e)
	}
	day := transfers.DayKey{UserID: c.UserID, Asset: a.Symbol}
	today := s.withdrawnToday(b.now, day)
	if total, err := today.Add(c.Amount); err != nil || total > a.WithdrawalDailyLimit {
		left := max(a.WithdrawalDailyLimit-today, 0)
		return refuse(apierr.New(apierr.LimitExceeded, "daily %s withdrawal limit is %s; %s left today", a.Symbol, a.WithdrawalDailyLimit, left))
	}
	var p risk.Postings
	p.Move(c.AccountID, a.Symbol, risk.Available, risk.Held, c.Amount)
	hold, err := s.post(b, "withdrawal_hold", "withdrawal requested", nil, &p)
	if err != nil {
		return refusal(err)
	}
	w := &transfers.Withdrawal{ID: b.ids.withdrawals.take(), UserID: c.UserID, AccountID: c.AccountID, Asset: a.Symbol, Amount: c.Amount,
		Address: c.Address, Status: transfers.WithdrawalPending, HoldEntryID: hold, CreatedAt: b.now, UpdatedAt: b.now}
	s.withdrawn[day] = today + c.Amount
	s.pending.Withdrawals[w.ID] = w
	b.transfers.CreatedWithdrawal(w)
	return Result{Withdrawal: w}, nil
}

func (s *state) reviewWithdrawal(b *batch, c *ReviewWithdrawal) (Result, error) {
	w := s.pending.Withdrawals[c.WithdrawalID]
	if w == nil {
		return refuse(apierr.New(apierr.Conflict, "withdrawal %d is not pending", c.WithdrawalID))
	}
	if w.UserID == c.AdminID {
		return refuse(errFourEyes("withdrawal"))
	}
	if !c.Approve && c.Reason == "" {
		return refuse(apierr.New(apierr.InvalidRequest, "a rejection needs a reason"))
	}
	if c.Approve {
		second, e := approval("withdrawal", w.UserID, c.AdminID, &w.ApprovedBy)
		if e != nil {
			return refuse(e)
		}
		if !second {
			w.UpdatedAt = b.now
			b.transfers.DecidedWithdrawal(w)
			b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "withdrawal_approved_first", Target: &w.UserID,
				Subject: fmt.Sprintf("withdrawal %d", w.ID), Detail: fmt.Sprintf("%s %s", w.Amount, w.Asset)})
			return Result{Withdrawal: w}, nil
		}
	}
	var entry int64
	var err error
	status := transfers.WithdrawalCompleted
	if c.Approve {
		var p risk.Postings
		p.Transfer(w.Asset, w.Amount, w.AccountID, risk.Held, risk.ExternalAccount, risk.Available)
		entry, err = s.post(b, "withdrawal_complete", fmt.Sprintf("withdrawal %d sent", w.ID), &c.AdminID, &p)
	} else {
		status = transfers.WithdrawalRejected
		entry, err = s.releaseHold(b, w, c.AdminID, "withdrawal_reject", fmt.Sprintf("withdrawal %d rejected", w.ID))
	}
	if err != nil {
		return Result{}, fmt.Errorf("sequencer: withdrawal %d's hold: %w", w.ID, err)
	}
	reviewer := c.AdminID
	w.ReviewedBy = &reviewer
	s.closeWithdrawal(b, w, status, entry, c.Reason)
	b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "withdrawal_" + string(status), Target: &w.UserID,
		Subject: fmt.Sprintf("withdrawal %d", w.ID), Detail: fmt.Sprintf("%s %s %s", w.Amount, w.Asset, c.Reason)})
	return Result{Withdrawal: w}, nil
}

// cancelWithdrawal is the owner taking back a pending withdrawal, even
// one that the first of its two admins approved. It releases the hold
// exactly as a rejection does. Whichever of a cancel and the second
// approval the sequencer applies first wins; the other finds it no
// longer pending (409).
func (s *state) cancelWithdrawal(b *batch, c *CancelWithdrawal) (Result, error) {
	w := s.pending.Withdrawals[c.WithdrawalID]
	if w == nil {
		return refuse(apierr.New(apierr.Conflict, "withdrawal %d is not pending", c.WithdrawalID))
	}
	if w.UserID != c.UserID {
		// Someone else's withdrawal is as unknown to the caller as a missing one.
		return refuse(apierr.New(apierr.NotFound, "withdrawal %d not found", c.WithdrawalID))
	}
	entry, err := s.releaseHold(b, w, c.UserID, "withdrawal_cancel", fmt.Sprintf("withdrawal %d cancelled by its owner", w.ID))
	if err != nil {
		return Result{}, fmt.Errorf("sequencer: withdrawal %d's hold: %w", w.ID, err)
	}
	s.closeWithdrawal(b, w, transfers.WithdrawalCancelled, entry, "")
	return Result{Withdrawal: w}, nil
}

// releaseHold moves a pending withdrawal's amount from held back to
// available (one balanced entry, by whoever decided) and takes it out of
// the day's count: the daily limit counts what leaves.
func (s *state) releaseHold(b *batch, w *transfers.Withdrawal, by int64, kind, memo string) (int64, error) {
	var p risk.Postings
	p.Move(w.AccountID, w.Asset, risk.Held, risk.Available, w.Amount)
	id, err := s.post(b, kind, memo, &by, &p)
	if err != nil {
		return 0, err
	}
	if day := (transfers.DayKey{UserID: w.UserID, Asset: w.Asset}); !w.CreatedAt.Before(s.day) {
		s.withdrawn[day] -= w.Amount
	}
	return id, nil
}

// closeWithdrawal records a pending withdrawal's end and forgets it.
func (s *state) closeWithdrawal(b *batch, w *transfers.Withdrawal, status transfers.WithdrawalStatus, entry int64, reason string) {
	w.Status, w.FinalEntryID, w.Reason, w.UpdatedAt = status, &entry, reason, b.now
	delete(s.pending.Withdrawals, w.ID)
	b.transfers.DecidedWithdrawal(w)
}

// adjust records an admin's proposed adjustment; another admin applies
// it.
func (s *state) adjust(b *batch, c *Adjust) (Result, error) {
	if c.UserID == c.AdminID {
		return refuse(errFourEyes("adjustment"))
	}
	a, e := s.asset(c.Asset)
	if e != nil {
		return refuse(e)
	}
	j := &transfers.Adjustment{ID: b.ids.adjustments.take(), UserID: c.UserID, AccountID: c.AccountID, Asset: a.Symbol, Amount: c.Amount,
		Reason: c.Reason, Status: transfers.AdjustmentPending, ProposedBy: c.AdminID, CreatedAt: b.now, UpdatedAt: b.now}
	s.pending.Adjustments[j.ID] = j
	b.transfers.CreatedAdjustment(j)
	b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "adjustment_proposed", Target: &c.UserID,
		Subject: fmt.Sprintf("adjustment %d", j.ID), Detail: fmt.Sprintf("%s %s: %s", c.Amount, a.Symbol, c.Reason)})
	return Result{Adjustment: j}, nil
}

// reviewAdjustment applies or rejects a proposed adjustment: never by the
// admin who proposed it, nor by its target.
func (s *state) reviewAdjustment(b *batch, c *ReviewAdjustment) (Result, error) {
	j := s.pending.Adjustments[c.AdjustmentID]
	if j == nil {
		return refuse(apierr.New(apierr.Conflict, "adjustment %d is not pending", c.AdjustmentID))
	}
	if j.UserID == c.AdminID {
		return refuse(errFourEyes("adjustment"))
	}
	if j.ProposedBy == c.AdminID {
		return refuse(apierr.New(apierr.FourEyesRequired, "you proposed this adjustment; another admin must apply it (four eyes)"))
	}
	status := transfers.AdjustmentRejected
	if c.Approve {
		a, e := s.asset(j.Asset)
		if e != nil {
			return refuse(e)
		}
		if j.Amount > 0 {
			if e := s.capCheck(j.AccountID, a, j.Amount); e != nil {
				return refuse(e)
			}
		}
		id, err := s.credit(b, j.AccountID, a.Symbol, j.Amount, "adjustment", j.Reason, &c.AdminID)
		if err != nil {
			return refusal(err)
		}
		j.EntryID, status = &id, transfers.AdjustmentApplied
	}
	reviewer := c.AdminID
	j.Status, j.ReviewedBy, j.UpdatedAt = status, &reviewer, b.now
	delete(s.pending.Adjustments, j.ID)
	b.transfers.DecidedAdjustment(j)
	b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "adjustment_" + string(status), Target: &j.UserID,
		Subject: fmt.Sprintf("adjustment %d", j.ID), Detail: fmt.Sprintf("%s %s: %s", j.Amount, j.Asset, j.Reason)})
	return Result{Adjustment: j}, nil
}
