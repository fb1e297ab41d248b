package auth

import (
	"net/http"
	"time"
)

// SessionCookie is the browser cookie that carries a session token, for the
// JSON API and the web pages alike.
const SessionCookie = "exchange_session"

// NewSessionCookie is the cookie for an open session. HttpOnly keeps the
// token from scripts; SameSite=Lax keeps cross-site forms from sending it.
func NewSessionCookie(token string, expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// ExpiredSessionCookie makes the browser forget the session cookie.
func ExpiredSessionCookie(secure bool) *http.Cookie {
	c := NewSessionCookie("", time.Time{}, secure)
	c.MaxAge = -1
	return c
}
