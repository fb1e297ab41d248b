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
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
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

// signup creates a trader and sends them to log in. The answer is the same
// whether or not the address had an account already, so the page tells
// nobody who is a customer; the mail to the address says which it was.
func (s *site) signup(c echo.Context) error {
	email, password := formValue(c, "email"), formValue(c, "password")
	if password != formValue(c, "password_again") {
		return s.failedForm(c, "/signup", "signup", apierr.New(apierr.InvalidRequest, "The two passwords differ."), "email")
	}
	normalised, err := s.Auth.SignUp(c.Request().Context(), email, password)
	if err != nil {
		return s.failedForm(c, "/signup", "signup", err, "email")
	}
	s.setFlash(c, flash{Notice: "If this address is new, its account is ready: log in with it. Either way we sent a mail to the address.",
		Form: map[string]string{"email": normalised}})
	return c.Redirect(http.StatusSeeOther, "/login")
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
	next := localPath(formValue(c, "next"), "/")
	res, err := s.Auth.Login(c.Request().Context(), auth.LoginRequest{
		Email: formValue(c, "email"), Password: formValue(c, "password"), Code: formValue(c, "totp_code"),
		IP: ratelimit.ClientKey(c.RealIP()), ClientIP: c.RealIP(), UserAgent: c.Request().UserAgent(), Device: cookieValue(c, auth.DeviceCookie),
	})
	if e, ok := apierr.As(err); ok {
		f := flash{Error: capitalised(e.Message), Form: map[string]string{"email": formValue(c, "email"), "next": next}}
		if e.Code == apierr.TOTPRequired || e.Code == apierr.InvalidTOTP {
			f.Form["need_code"] = "1"
		}
		s.setFlash(c, f)
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	if err != nil {
		return err
	}
	reqlog.SetUser(c, res.Principal.UserID)
	c.SetCookie(auth.NewSessionCookie(res.Session.Token, res.Session.ExpiresAt, s.Config.SecureCookies))
	if res.Device != "" {
		c.SetCookie(auth.NewDeviceCookie(res.Device, res.DeviceExpires, s.Config.SecureCookies))
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (s *site) logout(c echo.Context) error {
	if err := s.Auth.Logout(c.Request().Context(), mustPrincipal(c)); err != nil {
		return err
	}
	c.SetCookie(auth.ExpiredSessionCookie(s.Config.SecureCookies))
	return s.done(c, "/", "You are logged out.", nil)
}

type accountView struct {
	TOTP   auth.TOTPState
	QR     template.URL
	Secret string
	// RecoveryCodes are shown once, on the page that answers turning
	// two-factor authentication on; RecoveryLeft counts the unused ones.
	RecoveryCodes []string
	RecoveryLeft  int
	Sessions      []auth.SessionInfo
	Logins        []auth.LoginEvent
}

func (s *site) accountPage(c echo.Context) error {
	v, err := s.accountView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "account", "Account", v)
}

func (s *site) accountView(c echo.Context) (accountView, error) {
	ctx, userID := c.Request().Context(), mustPrincipal(c).UserID
	st, err := s.Auth.TOTP(ctx, userID)
	if err != nil {
		return accountView{}, err
	}
	v := accountView{TOTP: st}
	if err := s.sessionsAndLogins(c, &v); err != nil {
		return v, err
	}
	if st.Enabled {
		if v.RecoveryLeft, err = s.Auth.RecoveryCodesLeft(ctx, userID); err != nil {
			return v, err
		}
	}
	if st.Pending != nil {
		if v.QR, err = qrDataURI(st.Pending); err != nil {
			return v, err
		}
		v.Secret = st.Pending.Secret()
	}
	return v, nil
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
	if formValue(c, "new_password") != formValue(c, "new_password_again") {
		return s.failed(c, "/account", apierr.New(apierr.InvalidRequest, "The two new passwords differ."))
	}
	if err := s.Auth.ChangePassword(c.Request().Context(), mustPrincipal(c), formValue(c, "current_password"), formValue(c, "new_password"), formValue(c, "totp_code")); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Password changed. Your other sessions were logged out and your API keys revoked.", nil)
}

func (s *site) startTOTP(c echo.Context) error {
	if err := s.Auth.StartTOTP(c.Request().Context(), mustPrincipal(c)); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Scan the QR code with your authenticator app, then enter the code it shows.", nil)
}

// enableTOTP answers with the page itself rather than a redirect, so the
// recovery codes travel once, in a response nothing stores (no-store),
// and never in a cookie.
func (s *site) enableTOTP(c echo.Context) error {
	codes, err := s.Auth.EnableTOTP(c.Request().Context(), mustPrincipal(c), formValue(c, "password"), formValue(c, "totp_code"))
	if err != nil {
		return s.failed(c, "/account", err)
	}
	v, err := s.accountView(c)
	if err != nil {
		return err
	}
	v.RecoveryCodes = codes
	c.Set(flashKey, flash{Notice: "Two-factor authentication is on: logging in now takes a code from your app. Keep the recovery codes below somewhere safe."})
	return s.render(c, http.StatusOK, "account", "Account", v)
}

func (s *site) disableTOTP(c echo.Context) error {
	if err := s.Auth.DisableTOTP(c.Request().Context(), mustPrincipal(c), formValue(c, "password"), formValue(c, "totp_code")); err != nil {
		return s.failed(c, "/account", err)
	}
	return s.done(c, "/account", "Two-factor authentication is off.", nil)
}
