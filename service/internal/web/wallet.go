package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// historySize is how many deposits and withdrawals the wallet page lists.
const historySize = 20

type walletView struct {
	Balances    []ledger.Balance
	Assets      []catalog.Asset
	Deposits    []transfers.Deposit
	Withdrawals []transfers.Withdrawal
	Figures     figures
}

func (s *site) walletPage(c echo.Context) error {
	ctx := c.Request().Context()
	p := mustPrincipal(c)
	var v walletView
	var err error
	if v.Balances, err = s.Wallet.Balances(ctx, p.AccountID); err != nil {
		return err
	}
	if v.Assets, err = s.Catalog.Assets(ctx); err != nil {
		return err
	}
	if v.Figures, err = s.figures(ctx); err != nil {
		return err
	}
	if v.Deposits, err = s.Wallet.Deposits(ctx, p.UserID, "", transfers.Page{Limit: historySize}); err != nil {
		return err
	}
	if v.Withdrawals, err = s.Wallet.Withdrawals(ctx, p.UserID, "", transfers.Page{Limit: historySize}); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "wallet", "Wallet", v)
}

func owner(c echo.Context) auth.Owner { return mustPrincipal(c).Owner() }

func (s *site) deposit(c echo.Context) error {
	amount, err := typedAmount(formValue(c, "amount"), "amount")
	if err != nil {
		return s.failedForm(c, "/wallet", "deposit", err, "asset", "amount")
	}
	d, err := s.Wallet.Deposit(c.Request().Context(), owner(c), formValue(c, "asset"), amount)
	if err != nil {
		return s.failedForm(c, "/wallet", "deposit", err, "asset", "amount")
	}
	notice := fmt.Sprintf("Deposit of %s %s credited.", d.Amount, d.Asset)
	if d.Status == transfers.DepositPending {
		notice = fmt.Sprintf("Deposit of %s %s recorded: it is credited once an admin approves it.", d.Amount, d.Asset)
	}
	return s.done(c, "/wallet", notice, nil)
}

func (s *site) withdraw(c echo.Context) error {
	ctx := c.Request().Context()
	keep := []string{"asset", "amount", "address"}
	amount, err := typedAmount(formValue(c, "amount"), "amount")
	if err != nil {
		return s.failedForm(c, "/wallet", "withdraw", err, keep...)
	}
	if err := s.Auth.StepUpWithdrawal(ctx, mustPrincipal(c), formValue(c, "totp_code")); err != nil {
		return s.failedForm(c, "/wallet", "withdraw", err, keep...)
	}
	w, err := s.Wallet.RequestWithdrawal(ctx, owner(c), formValue(c, "asset"), amount, formValue(c, "address"))
	if err != nil {
		return s.failedForm(c, "/wallet", "withdraw", err, keep...)
	}
	return s.done(c, "/wallet", fmt.Sprintf("Withdrawal of %s %s requested: the amount is held until an admin sends it.", w.Amount, w.Asset), nil)
}

// cancelWithdrawal is the owner taking back a pending withdrawal, as the
// API's DELETE does; like it, it asks no two-factor code (the money
// stays in the account).
func (s *site) cancelWithdrawal(c echo.Context) error {
	id, err := inputcheck.PathID(c, "withdrawal")
	if err != nil {
		return s.failed(c, "/wallet", err)
	}
	w, err := s.Wallet.CancelWithdrawal(c.Request().Context(), owner(c), id)
	if err != nil {
		return s.failed(c, "/wallet", err)
	}
	return s.done(c, "/wallet", fmt.Sprintf("Withdrawal of %s %s cancelled: the amount is available again.", w.Amount, w.Asset), nil)
}
