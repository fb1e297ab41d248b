package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
)

type apiKeysView struct {
	Keys []auth.APIKey
	// Created and Secret are set once, on the page that answers the
	// creation: the secret is never shown again.
	Created *auth.APIKey
	Secret  string
}

func (s *site) apiKeysPage(c echo.Context) error {
	keys, err := s.Auth.ListAPIKeys(c.Request().Context(), mustPrincipal(c).UserID)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "apikeys", "API keys", apiKeysView{Keys: keys})
}

// createAPIKey answers with the page itself rather than a redirect, so the
// secret travels once, in a response nothing stores (no-store), and never
// in a cookie.
func (s *site) createAPIKey(c echo.Context) error {
	ctx := c.Request().Context()
	p := mustPrincipal(c)
	if err := c.Request().ParseForm(); err != nil {
		return apierr.New(apierr.InvalidRequest, "The form could not be read.")
	}
	key, secret, err := s.Auth.CreateAPIKey(ctx, p, formValue(c, "label"), c.Request().PostForm["scopes"], formValue(c, "totp_code"))
	if err != nil {
		return s.failedForm(c, "/api-keys", "apikey", err, "label")
	}
	keys, err := s.Auth.ListAPIKeys(ctx, p.UserID)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusCreated, "apikeys", "API keys", apiKeysView{Keys: keys, Created: &key, Secret: secret})
}

func (s *site) revokeAPIKey(c echo.Context) error {
	if err := s.Auth.RevokeAPIKey(c.Request().Context(), mustPrincipal(c).UserID, c.Param("id")); err != nil {
		return s.failed(c, "/api-keys", err)
	}
	return s.done(c, "/api-keys", "API key "+c.Param("id")+" revoked.", nil)
}
