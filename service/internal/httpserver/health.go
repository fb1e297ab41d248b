package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
)

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz fails while draining, when the database is unreachable, or when the
// schema is behind this binary, so no traffic reaches a pod that cannot
// serve it. A schema ahead of the binary is a rollout under way: the
// migration runs before the new pods start, and the old ones serve until
// they are replaced (a migration keeps the previous release working). It
// is on the public port, unbudgeted (probes come from the node's
// address): its checks run at most once a second, whoever asks.
func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return errNotReady("shutting down")
	}
	s.ready.Lock()
	defer s.ready.Unlock()
	if time.Since(s.ready.at) > time.Second {
		s.ready.err, s.ready.at = s.checkReady(c.Request().Context()), time.Now()
	}
	if s.ready.err != nil {
		return s.ready.err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) checkReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sqlDB := database.SQL(s.DB)
	if err := sqlDB.PingContext(ctx); err != nil {
		return errNotReady("database unreachable")
	}
	cur, err := migrate.Current(ctx, sqlDB)
	if err != nil {
		return errNotReady("cannot read the schema version")
	}
	if want := migrate.Latest(); cur < want {
		return errNotReady(fmt.Sprintf("schema version %d, binary needs %d: run `exchange migrate`", cur, want))
	}
	if err := s.Sequencer.Ready(ctx); err != nil {
		return errNotReady("no sequencer leader is reachable")
	}
	if !s.Feed.Ready() {
		return errNotReady("market data is not in sync yet")
	}
	return nil
}

func errNotReady(why string) error { return apierr.New(apierr.NotReady, "%s", why) }
