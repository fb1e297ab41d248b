package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

type balanceJSON struct {
	Asset     string       `json:"asset"`
	Available money.Amount `json:"available"`
	Held      money.Amount `json:"held"`
}

func (s *api) balances(c echo.Context) error {
	bs, err := s.Wallet.Balances(c.Request().Context(), mustPrincipal(c).AccountID)
	if err != nil {
		return err
	}
	out := make([]balanceJSON, len(bs))
	for i, b := range bs {
		out[i] = balanceJSON{Asset: b.Asset, Available: b.Available, Held: b.Held}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *api) deposit(c echo.Context) error {
	var req struct {
		Asset  string `json:"asset"`
		Amount string `json:"amount"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	d, err := s.Wallet.Deposit(c.Request().Context(), mustPrincipal(c).Owner(), req.Asset, req.Amount)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, d.ForOwner())
}

func (s *api) withdraw(c echo.Context) error {
	var req struct {
		Asset    string `json:"asset"`
		Amount   string `json:"amount"`
		Address  string `json:"address"`
		TOTPCode string `json:"totp_code"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := mustPrincipal(c)
	if err := s.Auth.StepUpWithdrawal(c.Request().Context(), p, req.TOTPCode); err != nil {
		return err
	}
	w, err := s.Wallet.RequestWithdrawal(c.Request().Context(), p.Owner(), req.Asset, req.Amount, req.Address)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, w.ForOwner())
}

// cancelWithdrawal takes back a pending withdrawal of the caller's. It
// asks no two-factor code: cancelling keeps the money in the account.
func (s *api) cancelWithdrawal(c echo.Context) error {
	id, err := inputcheck.PathID(c, "withdrawal")
	if err != nil {
		return err
	}
	w, err := s.Wallet.CancelWithdrawal(c.Request().Context(), mustPrincipal(c).Owner(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, w.ForOwner())
}

func (s *api) listDeposits(c echo.Context) error {
	return listPage(c, func(p page) ([]transfers.OwnerDeposit, error) {
		ds, err := s.Wallet.Deposits(c.Request().Context(), mustPrincipal(c).UserID, "", transfers.Page(p))
		return views(ds, transfers.Deposit.ForOwner), err
	}, func(d transfers.OwnerDeposit) int64 { return d.ID })
}

func (s *api) listWithdrawals(c echo.Context) error {
	return listPage(c, func(p page) ([]transfers.OwnerWithdrawal, error) {
		ws, err := s.Wallet.Withdrawals(c.Request().Context(), mustPrincipal(c).UserID, "", transfers.Page(p))
		return views(ws, transfers.Withdrawal.ForOwner), err
	}, func(w transfers.OwnerWithdrawal) int64 { return w.ID })
}

// views is each item as view shows it (an owner's list of transfers).
func views[T, V any](items []T, view func(T) V) []V {
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = view(it)
	}
	return out
}
