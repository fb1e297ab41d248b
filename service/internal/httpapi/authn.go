package httpapi

import (
	"bytes"
	"crypto/subtle"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
)

const (
	sessionCookie = auth.SessionCookie
	csrfHeader    = "X-CSRF-Token"
	principalKey  = "principal"
)

func principalOf(c echo.Context) (auth.Principal, bool) {
	p, ok := c.Get(principalKey).(auth.Principal)
	return p, ok
}

// mustPrincipal is for handlers behind authenticate, which always sets one.
func mustPrincipal(c echo.Context) auth.Principal {
	p, _ := principalOf(c)
	return p
}

// authenticate accepts a signed API-key request or a session cookie. A
// session request that changes state must echo the session's CSRF token in
// X-CSRF-Token: a cross-site page can make the browser send the cookie, but
// cannot read the token.
func (s *api) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := req.Context()
		var p auth.Principal
		if keyID := req.Header.Get("EX-KEY"); keyID != "" {
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return err // the body limit's 413
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			p, err = s.Auth.VerifySignature(ctx, auth.SignedRequest{
				KeyID:     keyID,
				Timestamp: req.Header.Get("EX-TIMESTAMP"),
				Signature: req.Header.Get("EX-SIGNATURE"),
				Method:    req.Method,
				PathQuery: req.URL.RequestURI(),
				Body:      body,
			})
			if err != nil {
				return err
			}
		} else {
			cookie, err := req.Cookie(sessionCookie)
			if err != nil {
				return apierr.New(apierr.Unauthorized, "authentication required: log in or sign the request with an API key")
			}
			p, err = s.Auth.Authenticate(ctx, cookie.Value)
			if err != nil {
				return err
			}
			if !safeMethod(req.Method) && subtle.ConstantTimeCompare([]byte(req.Header.Get(csrfHeader)), []byte(p.Session.CSRFToken)) != 1 {
				return apierr.New(apierr.CSRFFailed, "missing or wrong %s header; use the csrf_token from login or GET /api/v1/account", csrfHeader)
			}
			if p.Session.Renewed {
				s.setSessionCookie(c, p.Session.Token, p.Session.ExpiresAt)
			}
		}
		c.Set(principalKey, p)
		reqlog.SetUser(c, p.UserID)
		if err := ratelimit.ChargeUser(c, p.UserID, 1); err != nil {
			return err
		}
		// Whatever an authenticated request answers is the account's own
		// (a CSRF token, a key secret, balances): no cache may keep it.
		noStore(c)
		return next(c)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// require demands an API-key scope; sessions hold every scope.
func require(scope auth.Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !mustPrincipal(c).Can(scope) {
				return apierr.New(apierr.Forbidden, "this API key lacks the scope this request needs")
			}
			return next(c)
		}
	}
}

// sessionOnly keeps account management away from API keys: a leaked key
// must not be able to mint more keys, change the password or act as admin.
func sessionOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if mustPrincipal(c).Session == nil {
			return apierr.New(apierr.Forbidden, "this request needs a logged-in session, not an API key")
		}
		return next(c)
	}
}

func adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !mustPrincipal(c).IsAdmin() {
			return apierr.New(apierr.Forbidden, "admin role required")
		}
		return next(c)
	}
}

func (s *api) setSessionCookie(c echo.Context, token string, expires time.Time) {
	c.SetCookie(auth.NewSessionCookie(token, expires, s.Config.SecureCookies))
}

func (s *api) clearSessionCookie(c echo.Context) {
	c.SetCookie(auth.ExpiredSessionCookie(s.Config.SecureCookies))
}
