package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/png"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
)

type authForm struct {
	FormToken string
	Next      string
	Email     string
	NeedCode  bool
}

func (s *site) signupPage(c echo.Context) error {
	if _, ok := principalOf(c); ok {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	f := s.takeFlash(c)
	return s.render(c, http.StatusOK, "signup", "Sign up", authForm{FormToken: s.formToken(c), Email: f.Form["email"]})
}

// signup creates a trader and logs them in at once.
func (s *site) signup(c echo.Context) error {
	ctx := c.Request().Context()
	email, password := c.FormValue("email"), c.FormValue("password")
	if password != c.FormValue("password_again") {
		return s.failed(c, "/signup", apierr.New(apierr.InvalidRequest, "The two passwords differ."), "email")
	}
	if _, err := s.Auth.Register(ctx, email, password, auth.RoleTrader); err != nil {
		return s.failed(c, "/signup", err, "email")
	}
	sess, _, err := s.Auth.Login(ctx, email, password, c.RealIP())
	if err != nil {
		return s.failed(c, "/login", err, "email")
	}
	c.SetCookie(auth.NewSessionCookie(sess.Token, sess.ExpiresAt, s.Config.SecureCookies))
	return s.done(c, "/wallet", "Welcome! Your account is ready: deposit funds to start trading.", nil)
}

func (s *site) loginPage(c echo.Context) error {
	if _, ok := principalOf(c); ok {
		return c.Redirect(http.StatusSeeOther, localPath(c.QueryParam("next"), "/"))
	}
	f := s.takeFlash(c)
	next := c.QueryParam("next")
	if next == "" {
		next = f.Form["next"]
	}
	return s.render(c, http.StatusOK, "login", "Log in", authForm{
		FormToken: s.formToken(c), Next: localPath(next, ""), Email: f.Form["email"], NeedCode: f.Form["need_code"] != "",
	})
}

// login opens a session. When the account has two-factor authentication
// and no code came, the form comes back asking for one.
func (s *site) login(c echo.Context) error {
	next := localPath(c.FormValue("next"), "/")
	sess, p, err := s.Auth.LoginWithCode(c.Request().Context(), c.FormValue("email"), c.FormValue("password"), c.FormValue("totp_code"), c.RealIP())
	if e, ok := apierr.As(err); ok {
		f := flash{Error: capitalised(e.Message), Form: map[string]string{"email": c.FormValue("email"), "next": next}}
		if e.Code == apierr.TOTPRequired || e.Code == apierr.InvalidTOTP {
			f.Form["need_code"] = "1"
		}
		s.setFlash(c, f)
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	if err != nil {
		return err
	}
	reqlog.SetUser(c, p.UserID)
	c.SetCookie(auth.NewSessionCookie(sess.Token, sess.ExpiresAt, s.Config.SecureCookies))
	return c.Redirect(http.StatusSeeOther, next)
}

func (s *site) logout(c echo.Context) error {
	if err := s.Auth.Logout(c.Request().Context(), mustPrincipal(c).Session); err != nil {
		return err
	}
	c.SetCookie(auth.ExpiredSessionCookie(s.Config.SecureCookies))
	return s.done(c, "/", "You are logged out.", nil)
}

type accountView struct {
	TOTP   auth.TOTPState
	QR     template.URL
	Secret string
}

func (s *site) accountPage(c echo.Context) error {
	st, err := s.Auth.TOTP(c.Request().Context(), mustPrincipal(c).UserID)
	if err != nil {
		return err
	}
	v := accountView{TOTP: st}
	if st.Pending != nil {
		if v.QR, err = qrDataURI(st.Pending); err != nil {
			return err
		}
		v.Secret = st.Pending.Secret()
	}
	return s.render(c, http.StatusOK, "account", "Account", v)
}

// qrDataURI draws the otpauth key as a PNG QR code, inline in the page, so
// the secret is never a separate URL that something could cache.
func qrDataURI(key *otp.Key) (template.URL, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return "", fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("totp qr code: %w", err)
	}
	// The bytes are our own PNG, so marking the URL safe is sound.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

func (s *site) changePassword(c echo.Context) error {
	if c.FormValue("new_password") != c.FormValue("new_password_again") {
		return s.failed(c, "/account", apierr.New(apierr.InvalidRequest, "The two new passwords differ."))
	}
	if err := s.Auth.ChangePassword(c.Request().Context(), mustPrincipal(c), c.FormValue("current_password"), c.FormValue("new_password")); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Password changed. Your other sessions were logged out.", nil)
}

func (s *site) startTOTP(c echo.Context) error {
	if err := s.Auth.StartTOTP(c.Request().Context(), mustPrincipal(c)); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Scan the QR code with your authenticator app, then enter the code it shows.", nil)
}

func (s *site) enableTOTP(c echo.Context) error {
	if err := s.Auth.EnableTOTP(c.Request().Context(), mustPrincipal(c), c.FormValue("totp_code")); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Two-factor authentication is on: logging in now takes a code from your app.", nil)
}

func (s *site) disableTOTP(c echo.Context) error {
	if err := s.Auth.DisableTOTP(c.Request().Context(), mustPrincipal(c), c.FormValue("password"), c.FormValue("totp_code")); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Two-factor authentication is off.", nil)
}
