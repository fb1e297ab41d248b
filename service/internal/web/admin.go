package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// adminListSize bounds the admin lists; pending items beyond it show up
// as the first ones are reviewed.
const adminListSize = 100

func (s *site) adminHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/admin/wallet")
}

type adminWalletView struct {
	Deposits    []transfers.Deposit
	Withdrawals []transfers.Withdrawal
}

func (s *site) adminWalletPage(c echo.Context) error {
	ctx := c.Request().Context()
	var v adminWalletView
	var err error
	page := transfers.Page{Limit: adminListSize}
	if v.Deposits, err = s.Wallet.Deposits(ctx, 0, transfers.DepositPending, page); err != nil {
		return err
	}
	if v.Withdrawals, err = s.Wallet.Withdrawals(ctx, 0, transfers.WithdrawalPending, page); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "admin_wallet", "Admin: deposits and withdrawals", v)
}

// decision reads the :decision path parameter: the first choice is true.
func decision(c echo.Context, yes, no string) (bool, error) {
	switch c.Param("decision") {
	case yes:
		return true, nil
	case no:
		return false, nil
	}
	return false, apierr.New(apierr.NotFound, "There is no such action.")
}

func (s *site) adminReviewDeposit(c echo.Context) error {
	approve, err := decision(c, "approve", "reject")
	if err != nil {
		return err
	}
	id, err := inputcheck.PathID(c, "deposit")
	if err != nil {
		return err
	}
	d, err := s.Wallet.ReviewDeposit(c.Request().Context(), mustPrincipal(c).UserID, id, approve)
	if err != nil {
		return s.failed(c, "/admin/wallet", err)
	}
	if d.Status == transfers.DepositPending {
		return s.done(c, "/admin/wallet", fmt.Sprintf("Deposit %d: your approval is recorded; another admin must approve it too.", d.ID), nil)
	}
	return s.done(c, "/admin/wallet", fmt.Sprintf("Deposit %d %s.", d.ID, d.Status), nil)
}

func (s *site) adminReviewWithdrawal(c echo.Context) error {
	approve, err := decision(c, "approve", "reject")
	if err != nil {
		return err
	}
	id, err := inputcheck.PathID(c, "withdrawal")
	if err != nil {
		return err
	}
	w, err := s.Wallet.ReviewWithdrawal(c.Request().Context(), mustPrincipal(c).UserID, id, approve, formValue(c, "reason"))
	if err != nil {
		return s.failed(c, "/admin/wallet", err)
	}
	if w.Status == transfers.WithdrawalPending {
		return s.done(c, "/admin/wallet", fmt.Sprintf("Withdrawal %d: your approval is recorded; another admin must approve it too.", w.ID), nil)
	}
	return s.done(c, "/admin/wallet", fmt.Sprintf("Withdrawal %d %s.", w.ID, w.Status), nil)
}

func (s *site) adminMarketsPage(c echo.Context) error {
	markets, err := s.Catalog.Markets(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "admin_markets", "Admin: markets", markets)
}

func (s *site) adminMarketStatus(c echo.Context) error {
	halt, err := decision(c, "halt", "resume")
	if err != nil {
		return err
	}
	status := catalog.MarketOpen
	if halt {
		status = catalog.MarketHalted
	}
	market := c.Param("market")
	if err := s.Trading.SetMarketStatus(c.Request().Context(), market, status); err != nil {
		return s.failed(c, "/admin/markets", err)
	}
	return s.done(c, "/admin/markets", fmt.Sprintf("Market %s is %s.", market, status), nil)
}

type adminUsersView struct {
	Query string
	Users []auth.User
}

func (s *site) adminUsersPage(c echo.Context) error {
	q := c.QueryParam("q")
	users, err := s.Auth.Users(c.Request().Context(), q, adminListSize)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "admin_users", "Admin: users", adminUsersView{Query: q, Users: users})
}

func (s *site) adminUserStatus(c echo.Context) error {
	freeze, err := decision(c, "freeze", "unfreeze")
	if err != nil {
		return err
	}
	id, err := inputcheck.PathID(c, "user")
	if err != nil {
		return err
	}
	status := auth.StatusActive
	if freeze {
		status = auth.StatusFrozen
	}
	back := "/admin/users?q=" + url.QueryEscape(formValue(c, "q"))
	if err := s.Auth.SetStatus(c.Request().Context(), mustPrincipal(c), id, status); err != nil {
		return s.failed(c, back, err)
	}
	return s.done(c, back, fmt.Sprintf("User %d is %s.", id, status), nil)
}
