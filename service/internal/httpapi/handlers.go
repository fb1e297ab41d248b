package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

type assetJSON struct {
	Symbol    string `json:"symbol"`
	Name      string `json:"name"`
	Precision int    `json:"precision"`
}

func (s *api) listAssets(c echo.Context) error {
	assets, err := s.Catalog.Assets(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]assetJSON, len(assets))
	for i, a := range assets {
		out[i] = assetJSON{a.Symbol, a.Name, a.Precision}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *api) listMarkets(c echo.Context) error {
	markets, err := s.Catalog.Markets(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, markets)
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type userJSON struct {
	ID        int64     `json:"id,string"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// registeredJSON is the sign-up answer: the same whether or not the
// address already had an account (a mail tells its owner which).
type registeredJSON struct {
	Email   string `json:"email"`
	Message string `json:"message"`
}

func (s *api) register(c echo.Context) error {
	var req credentials
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	email, err := s.Auth.SignUp(c.Request().Context(), req.Email, req.Password)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusCreated, registeredJSON{Email: email,
		Message: "If this address is new, its account is ready: log in with it. Either way a mail went to the address."})
}

// noStore keeps a response out of every cache: it carries a CSRF token, a
// key secret or an account's details.
func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
}

type sessionJSON struct {
	User      userJSON  `json:"user"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *api) login(c echo.Context) error {
	var req struct {
		credentials
		TOTPCode string `json:"totp_code"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	res, err := s.Auth.Login(c.Request().Context(), auth.LoginRequest{
		Email: req.Email, Password: req.Password, Code: req.TOTPCode, IP: ratelimit.ClientKey(c.RealIP()),
		ClientIP: c.RealIP(), UserAgent: c.Request().UserAgent(), Device: cookieValue(c, auth.DeviceCookie),
	})
	if err != nil {
		return err
	}
	sess, p := res.Session, res.Principal
	reqlog.SetUser(c, p.UserID)
	s.setSessionCookie(c, sess.Token, sess.ExpiresAt)
	if res.Device != "" {
		c.SetCookie(auth.NewDeviceCookie(res.Device, res.DeviceExpires, s.Config.SecureCookies))
	}
	noStore(c)
	return c.JSON(http.StatusOK, sessionJSON{
		User:      userJSON{ID: p.UserID, Email: p.Email, Role: p.Role},
		CSRFToken: sess.CSRFToken,
		ExpiresAt: sess.ExpiresAt.UTC(),
	})
}

func (s *api) logout(c echo.Context) error {
	if err := s.Auth.Logout(c.Request().Context(), mustPrincipal(c)); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return c.NoContent(http.StatusNoContent)
}

func (s *api) changePassword(c echo.Context) error {
	var req struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
		TOTPCode        string `json:"totp_code"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := s.Auth.ChangePassword(c.Request().Context(), mustPrincipal(c), req.CurrentPassword, req.NewPassword, req.TOTPCode); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type accountJSON struct {
	User      userJSON `json:"user"`
	CSRFToken string   `json:"csrf_token,omitempty"`
	KeyID     string   `json:"key_id,omitempty"`
}

func (s *api) account(c echo.Context) error {
	p := mustPrincipal(c)
	out := accountJSON{User: userJSON{ID: p.UserID, Email: p.Email, Role: p.Role}, KeyID: p.KeyID}
	if p.Session != nil {
		out.CSRFToken = p.Session.CSRFToken
	}
	return c.JSON(http.StatusOK, out)
}

func (s *api) createAPIKey(c echo.Context) error {
	var req struct {
		Label    string   `json:"label"`
		Scopes   []string `json:"scopes"`
		TOTPCode string   `json:"totp_code"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	key, secret, err := s.Auth.CreateAPIKey(c.Request().Context(), mustPrincipal(c), req.Label, req.Scopes, req.TOTPCode)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		auth.APIKey
		Secret string `json:"secret"`
	}{key, secret})
}

func (s *api) listAPIKeys(c echo.Context) error {
	keys, err := s.Auth.ListAPIKeys(c.Request().Context(), mustPrincipal(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, keys)
}

func (s *api) revokeAPIKey(c echo.Context) error {
	if err := s.Auth.RevokeAPIKey(c.Request().Context(), mustPrincipal(c).UserID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

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
	return c.JSON(http.StatusCreated, d)
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
	// A session must show a current two-factor code again; an API key's
	// withdraw scope was granted under one when the key was made.
	if p.Session != nil {
		if err := s.Auth.StepUp(c.Request().Context(), p, req.TOTPCode); err != nil {
			return err
		}
	}
	w, err := s.Wallet.RequestWithdrawal(c.Request().Context(), p.Owner(), req.Asset, req.Amount, req.Address)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, w)
}

// cancelWithdrawal takes back a pending withdrawal of the caller's. It
// asks no two-factor code: cancelling keeps the money in the account.
func (s *api) cancelWithdrawal(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	w, err := s.Wallet.CancelWithdrawal(c.Request().Context(), mustPrincipal(c).Owner(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, w)
}

func (s *api) listDeposits(c echo.Context) error {
	return listPage(c, func(p page) ([]transfers.Deposit, error) {
		return s.Wallet.Deposits(c.Request().Context(), mustPrincipal(c).UserID, "", transfers.Page(p))
	}, func(d transfers.Deposit) int64 { return d.ID })
}

func (s *api) listWithdrawals(c echo.Context) error {
	return listPage(c, func(p page) ([]transfers.Withdrawal, error) {
		return s.Wallet.Withdrawals(c.Request().Context(), mustPrincipal(c).UserID, "", transfers.Page(p))
	}, func(w transfers.Withdrawal) int64 { return w.ID })
}

// pageJSON is the contract's paginated list: items plus the cursor of the next page.
type pageJSON[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// page is a keyset page request: items with ids below Before, newest first.
type page struct {
	Before int64 // 0: from the newest
	Limit  int
}

// listPage reads ?limit= and ?cursor=, fetches, and sets next_cursor when
// the page is full. Cursors are ids, opaque to clients.
func listPage[T any](c echo.Context, fetch func(page) ([]T, error), id func(T) int64) error {
	p := page{Limit: 100}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 1000 {
			return apierr.New(apierr.InvalidRequest, "limit must be an integer from 1 to 1000")
		}
		p.Limit = n
	}
	if raw := c.QueryParam("cursor"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return apierr.New(apierr.InvalidRequest, "cursor is not one this server returned")
		}
		p.Before = n
	}
	items, err := fetch(p)
	if err != nil {
		return err
	}
	out := pageJSON[T]{Data: items}
	if out.Data == nil {
		out.Data = []T{}
	}
	if len(items) == p.Limit {
		out.NextCursor = strconv.FormatInt(id(items[len(items)-1]), 10)
	}
	return c.JSON(http.StatusOK, out)
}

func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apierr.New(apierr.NotFound, "no record with id %q", c.Param("id"))
	}
	return id, nil
}

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
		id, err := pathID(c)
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
		id, err := pathID(c)
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
		id, err := pathID(c)
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
		id, err := pathID(c)
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
