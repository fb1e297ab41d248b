package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/httperr"
	"github.com/crypto-exchange/exchange/service/internal/reqlog"
)

// handleError is Echo's central error handler: client errors get their
// code and message; anything else is logged with the request id and
// answered with a bare 500 that reveals nothing internal.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var body httperr.Body
	status := http.StatusInternalServerError
	if e, ok := httperr.Classify(err); ok {
		status, body.Error.Code, body.Error.Message = httperr.Status(e), e.Code, e.Message
		httperr.SetRetryAfter(c.Response().Header(), e)
	} else {
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		s.Log.ErrorContext(c.Request().Context(), "request failed", "error", err.Error(), "request_id", reqID,
			"method", c.Request().Method, "route", routeOf(c))
		body.Error.Code, body.Error.Message = apierr.Internal, "internal error; quote request id "+reqID+" to support"
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.Log.WarnContext(c.Request().Context(), "write error response", "error", err.Error())
	}
}

// recoverPanics turns a panic in a handler into a logged 500, so one bad
// request never takes the process down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.Log.ErrorContext(c.Request().Context(), "panic in handler", "panic", fmt.Sprint(r),
					"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "stack", stack())
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// logRequest writes one structured line per request and feeds the RED
// metrics. It resolves the error first so the status it records is final.
func (s *Server) logRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.Now()
		s.metrics.inFlight.Inc()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.metrics.inFlight.Dec()
		elapsed := s.Now().Sub(start)
		req, res := c.Request(), c.Response()
		route := routeOf(c)
		s.metrics.observe(req.Method, route, res.Status, elapsed)
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelError
		case route == "/healthz" || route == "/readyz":
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("route", route),
			slog.Int("status", res.Status),
			slog.Float64("latency_seconds", elapsed.Seconds()),
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("remote_ip", c.RealIP()),
			slog.Int64("bytes_out", res.Size),
		}
		// user_id, order_id and market, as the JSON API's handlers and the
		// web pages recorded them.
		attrs = append(attrs, reqlog.Attrs(c)...)
		s.Log.LogAttrs(req.Context(), level, "http request", attrs...)
		return nil
	}
}

// routeOf is the route template ("/api/v1/deposits/:id"), never the raw
// path, so logs and metric labels stay bounded.
func routeOf(c echo.Context) string {
	if p := c.Path(); p != "" && c.Response().Status != http.StatusNotFound {
		return p
	}
	return "unmatched"
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func stack() string {
	buf := make([]byte, 8<<10)
	return string(buf[:runtime.Stack(buf, false)])
}
