package web

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
)

// The account page's sessions and login history: the same auth calls as
// the API's /sessions and /login-history.

func (s *site) revokeSession(c echo.Context) error {
	id, err := inputcheck.PathID(c, "session")
	if err != nil {
		return s.failed(c, "/account", err)
	}
	own, err := s.Auth.RevokeSession(c.Request().Context(), mustPrincipal(c), id)
	if err != nil {
		return s.failed(c, "/account", err)
	}
	if own {
		c.SetCookie(auth.ExpiredSessionCookie(s.Config.SecureCookies))
		return s.done(c, "/", "You are logged out.", nil)
	}
	return s.done(c, "/account", "That session is signed out, and its open pages stopped updating.", nil)
}

func (s *site) revokeOtherSessions(c echo.Context) error {
	n, err := s.Auth.RevokeOtherSessions(c.Request().Context(), mustPrincipal(c))
	if err != nil {
		return s.failed(c, "/account", err)
	}
	notice := fmt.Sprintf("Signed out everywhere else: %d other sessions ended. Your API keys still work.", n)
	if n == 1 {
		notice = "Signed out everywhere else: 1 other session ended. Your API keys still work."
	}
	return s.done(c, "/account", notice, nil)
}

// deviceName makes a user agent readable ("Chrome on Linux"); the page
// keeps the whole string in the title. It only guesses, from the common
// tokens, in the order that tells the browsers apart (Edge and Chrome
// also say Safari).
func deviceName(ua string) string {
	if ua == "" {
		return "unknown"
	}
	browser := ""
	for _, b := range [][2]string{{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client/", "Go program"}} {
		if strings.Contains(ua, b[0]) {
			browser = b[1]
			break
		}
	}
	if browser == "" {
		browser, _, _ = strings.Cut(ua, "/")
	}
	for _, o := range [][2]string{{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"}} {
		if strings.Contains(ua, o[0]) {
			return browser + " on " + o[1]
		}
	}
	return browser
}

func (s *site) sessionsAndLogins(c echo.Context, v *accountView) error {
	ctx, p := c.Request().Context(), mustPrincipal(c)
	var err error
	if v.Sessions, err = s.Auth.Sessions(ctx, p); err != nil {
		return err
	}
	v.Logins, err = s.Auth.LoginHistory(ctx, p.UserID)
	return err
}
