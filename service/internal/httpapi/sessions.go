package httpapi

import (
	"net/http"

	"github.com/crypto-exchange/exchange/service/internal/inputcheck"
	"github.com/labstack/echo/v4"
)

// The account's sessions and login history: session-only routes, like
// the API keys', so that a leaked key shows none of it.

func (s *api) listSessions(c echo.Context) error {
	list, err := s.Auth.Sessions(c.Request().Context(), mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

func (s *api) revokeSession(c echo.Context) error {
	id, err := inputcheck.PathID(c, "session")
	if err != nil {
		return err
	}
	own, err := s.Auth.RevokeSession(c.Request().Context(), mustPrincipal(c), id)
	if err != nil {
		return err
	}
	if own {
		s.clearSessionCookie(c)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *api) revokeOtherSessions(c echo.Context) error {
	n, err := s.Auth.RevokeOtherSessions(c.Request().Context(), mustPrincipal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"revoked": n})
}

func (s *api) loginHistory(c echo.Context) error {
	list, err := s.Auth.LoginHistory(c.Request().Context(), mustPrincipal(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}
