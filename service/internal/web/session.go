package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/httperr"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
)

const (
	principalKey = "web_principal"
	flashKey     = "web_flash"
	// formTokenCookie guards the forms shown before there is a session
	// (log in, sign up) by double submit: a cross-site page can post the
	// form but cannot read the cookie to fill in the field.
	formTokenCookie = "exchange_form"
	flashCookie     = "exchange_flash"
	csrfField       = "csrf_token"
)

func principalOf(c echo.Context) (auth.Principal, bool) {
	p, ok := c.Get(principalKey).(auth.Principal)
	return p, ok
}

func mustPrincipal(c echo.Context) auth.Principal {
	p, _ := principalOf(c)
	return p
}

// optionalUser resolves the session cookie when there is one. An expired
// session, or a frozen user's, just makes the visitor anonymous.
func (s *site) optionalUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cookie, err := c.Cookie(auth.SessionCookie)
		if err != nil || cookie.Value == "" {
			return next(c)
		}
		p, err := s.Auth.Authenticate(c.Request().Context(), cookie.Value)
		if err != nil {
			if _, ok := apierr.As(err); !ok {
				return err
			}
			c.SetCookie(auth.ExpiredSessionCookie(s.Config.SecureCookies))
			return next(c)
		}
		if p.Session.Renewed {
			c.SetCookie(auth.NewSessionCookie(p.Session.Token, p.Session.ExpiresAt, s.Config.SecureCookies))
		}
		c.Set(principalKey, p)
		reqlog.SetUser(c, p.UserID)
		if err := ratelimit.ChargeUser(c, p.UserID, 1); err != nil {
			return err
		}
		return next(c)
	}
}

// requireUser sends visitors without a session to the login page, and
// back here afterwards.
func (s *site) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return s.optionalUser(func(c echo.Context) error {
		if _, ok := principalOf(c); ok {
			return next(c)
		}
		if wantsJSON(c) {
			return apierr.New(apierr.Unauthorized, "your session has ended; log in again")
		}
		to := "/login?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		if c.Request().Method != http.MethodGet {
			s.setFlash(c, flash{Error: "Your session has ended. Log in again."})
			to = "/login"
		}
		return c.Redirect(http.StatusSeeOther, to)
	})
}

func (s *site) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !mustPrincipal(c).IsAdmin() {
			return apierr.New(apierr.Forbidden, "This page is for admins.")
		}
		return next(c)
	}
}

var errStaleForm = apierr.New(apierr.CSRFFailed, "This form was out of date or did not come from this site. Reload the page and try again.")

// checkCSRF demands the session's CSRF token in the form: a cross-site
// page can make the browser post with the cookie, but cannot read the token.
func (s *site) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !sameToken(formValue(c, csrfField), mustPrincipal(c).Session.CSRFToken) {
			return errStaleForm
		}
		return next(c)
	}
}

// checkFormToken is checkCSRF for the forms that come before a session.
func (s *site) checkFormToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cookie, err := c.Cookie(formTokenCookie)
		if err != nil || !sameToken(formValue(c, csrfField), cookie.Value) {
			return errStaleForm
		}
		return next(c)
	}
}

func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// formToken is the visitor's token for the forms before a session, made
// on first use.
func (s *site) formToken(c echo.Context) string {
	if cookie, err := c.Cookie(formTokenCookie); err == nil && len(cookie.Value) >= 32 {
		return cookie.Value
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails on Linux since Go 1.24
	token := base64.RawURLEncoding.EncodeToString(b)
	c.SetCookie(&http.Cookie{Name: formTokenCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: s.Config.SecureCookies, SameSite: http.SameSiteStrictMode})
	return token
}

// flash is a message for the next page a browser sees, after a redirect,
// and what was typed into the form, so that a refused form comes back
// filled in. It is only ever shown, escaped, to the browser that carries
// it, so it needs no signature. Passwords are never kept.
type flash struct {
	Error  string            `json:"e,omitempty"`
	Notice string            `json:"n,omitempty"`
	Form   map[string]string `json:"f,omitempty"`
	// Of names the form the fields were typed into: a page with two
	// forms (deposit and withdraw) fills in only the one that was sent.
	Of string `json:"o,omitempty"`
}

// Kept is what was typed into field of form, for the page to fill back in.
func (f flash) Kept(form, field string) string {
	if f.Of != form {
		return ""
	}
	return f.Form[field]
}

// maxFlash keeps the cookie well below browsers' 4 KiB limit.
const maxFlash = 2000

func (s *site) setFlash(c echo.Context, f flash) {
	b, _ := json.Marshal(f)
	if len(b) > maxFlash {
		b, _ = json.Marshal(flash{Error: f.Error, Notice: f.Notice})
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: s.Config.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// takeFlash reads the flash and drops its cookie; later calls in the same
// request get the same flash.
func (s *site) takeFlash(c echo.Context) flash {
	if f, ok := c.Get(flashKey).(flash); ok {
		return f
	}
	var f flash
	defer func() { c.Set(flashKey, f) }()
	cookie, err := c.Cookie(flashCookie)
	if err != nil {
		return f
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.Config.SecureCookies, SameSite: http.SameSiteLaxMode})
	if b, err := base64.RawURLEncoding.DecodeString(cookie.Value); err == nil {
		_ = json.Unmarshal(b, &f) // a mangled flash is just no message
	}
	return f
}

// wantsJSON tells the market page's script (which sends its forms with
// fetch and reads the answer) from a browser following a plain form.
func wantsJSON(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}

func jsonError(c echo.Context, status int, err error, msg string) error {
	code := apierr.Internal
	if e, ok := apierr.As(err); ok {
		code = e.Code
	}
	return c.JSON(status, httperr.Body{Error: httperr.Detail{Code: code, Message: msg}})
}

// done ends a form post that worked: back to the page with a notice, or,
// for fetch, the notice and data as JSON.
func (s *site) done(c echo.Context, to, notice string, data any) error {
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, map[string]any{"notice": notice, "data": data})
	}
	s.setFlash(c, flash{Notice: notice})
	return c.Redirect(http.StatusSeeOther, to)
}

// answer is done with the whole JSON body given: body carries the notice.
func (s *site) answer(c echo.Context, to, notice string, body any) error {
	if wantsJSON(c) {
		return c.JSON(http.StatusOK, body)
	}
	s.setFlash(c, flash{Notice: notice})
	return c.Redirect(http.StatusSeeOther, to)
}

// failed ends a form post that a client error refused: back to the form
// with the message. Faults are returned for htmlErrors to report.
func (s *site) failed(c echo.Context, to string, err error) error {
	return s.failedForm(c, to, "", err)
}

// failedForm is failed for a form whose named fields come back as typed.
func (s *site) failedForm(c echo.Context, to, form string, err error, keep ...string) error {
	e, ok := apierr.As(err)
	if !ok || wantsJSON(c) {
		return err
	}
	f := flash{Error: capitalised(e.Message), Form: map[string]string{}, Of: form}
	for _, k := range keep {
		f.Form[k] = formValue(c, k)
	}
	s.setFlash(c, f)
	return c.Redirect(http.StatusSeeOther, to)
}

// localPath is raw if it is a path on this site, else fallback, so that a
// crafted link cannot send someone elsewhere after logging in. It is
// decided by parsing, not by looking at the first characters: browsers
// drop tabs and line breaks from a Location and read a backslash as a
// slash, so "/\t/evil.example" or "/\\evil.example" would leave the site.
// What passes is re-encoded from the parsed path and query.
func localPath(raw, fallback string) string {
	if raw == "" || raw[0] != '/' || len(raw) > 2048 || !plainText(raw) {
		return fallback
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !plainText(u.Path) {
		return fallback
	}
	// After decoding and resolving dot segments, the path must still be
	// one path on this host: not "//host", not "/\\host".
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(clean, "//") || strings.ContainsAny(u.Path, "\\") ||
		strings.HasPrefix(u.EscapedPath(), "//") || clean != u.Path && clean+"/" != u.Path {
		return fallback
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

// plainText is valid UTF-8 with no control, space or invisible character
// and no backslash.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

func cookieValue(c echo.Context, name string) string {
	if ck, err := c.Cookie(name); err == nil {
		return ck.Value
	}
	return ""
}

// formValue reads a field from the form body only, never from the query
// string: a link cannot pre-fill a form's hidden fields (the CSRF token,
// the page to return to) for a victim who follows it.
func formValue(c echo.Context, name string) string {
	return c.Request().PostFormValue(name)
}
