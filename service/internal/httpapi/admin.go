package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// The admins' routes: reviews under four eyes, freezes and adjustments,
// each decided by package wallet or auth; the handlers only bind and answer.

func statusFilter[S ~string](c echo.Context, allowed ...S) (S, error) {
	st := S(c.QueryParam("status"))
	if st == "" {
		return "", nil
	}
	for _, a := range allowed {
		if st == a {
			return st, nil
		}
	}
	return "", apierr.New(apierr.InvalidRequest, "status must be one of %v", allowed)
}

func (s *api) adminListDeposits(c echo.Context) error {
	status, err := statusFilter(c, transfers.DepositPending, transfers.DepositCredited, transfers.DepositRejected)
	if err != nil {
		return err
	}
	return listPage(c, func(p page) ([]transfers.Deposit, error) {
		return s.Wallet.Deposits(c.Request().Context(), 0, status, transfers.Page(p))
	}, func(d transfers.Deposit) int64 { return d.ID })
}

func (s *api) adminListWithdrawals(c echo.Context) error {
	status, err := statusFilter(c, transfers.WithdrawalPending, transfers.WithdrawalCompleted, transfers.WithdrawalRejected, transfers.WithdrawalCancelled)
	if err != nil {
		return err
	}
	return listPage(c, func(p page) ([]transfers.Withdrawal, error) {
		return s.Wallet.Withdrawals(c.Request().Context(), 0, status, transfers.Page(p))
	}, func(w transfers.Withdrawal) int64 { return w.ID })
}

func (s *api) adminReviewDeposit(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := inputcheck.PathID(c, "deposit")
		if err != nil {
			return err
		}
		d, err := s.Wallet.ReviewDeposit(c.Request().Context(), mustPrincipal(c).UserID, id, approve)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, d)
	}
}

func (s *api) adminReviewWithdrawal(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := inputcheck.PathID(c, "withdrawal")
		if err != nil {
			return err
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if !approve {
			if err := decodeJSON(c, &req); err != nil {
				return err
			}
		}
		w, err := s.Wallet.ReviewWithdrawal(c.Request().Context(), mustPrincipal(c).UserID, id, approve, req.Reason)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, w)
	}
}

func (s *api) adminSetUserStatus(status string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := inputcheck.PathID(c, "user")
		if err != nil {
			return err
		}
		if err := s.Auth.SetStatus(c.Request().Context(), mustPrincipal(c), id, status); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"id": fmt.Sprint(id), "status": status})
	}
}

func (s *api) adminAdjust(c echo.Context) error {
	var req struct {
		UserID string `json:"user_id"`
		Asset  string `json:"asset"`
		Amount string `json:"amount"`
		Reason string `json:"reason"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	userID, err := strconv.ParseInt(req.UserID, 10, 64)
	if err != nil {
		return apierr.New(apierr.InvalidRequest, "user_id must be a user id string")
	}
	adj, err := s.Wallet.Adjust(c.Request().Context(), mustPrincipal(c).UserID, userID, req.Asset, req.Amount, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, adj)
}

func (s *api) adminListAdjustments(c echo.Context) error {
	status, err := statusFilter(c, transfers.AdjustmentPending, transfers.AdjustmentApplied, transfers.AdjustmentRejected)
	if err != nil {
		return err
	}
	return listPage(c, func(p page) ([]transfers.Adjustment, error) {
		return s.Wallet.Adjustments(c.Request().Context(), status, transfers.Page(p))
	}, func(a transfers.Adjustment) int64 { return a.ID })
}

func (s *api) adminReviewAdjustment(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := inputcheck.PathID(c, "adjustment")
		if err != nil {
			return err
		}
		adj, err := s.Wallet.ReviewAdjustment(c.Request().Context(), mustPrincipal(c).UserID, id, approve)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, adj)
	}
}
