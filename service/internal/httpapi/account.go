package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
)

// Signing up and in, the account, its password and its API keys:
// what a trader does to themselves, each through package auth.

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
