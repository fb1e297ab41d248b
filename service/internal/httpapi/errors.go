package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/httpapi/reqlog"
)

// errorBody is the contract's error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusOf maps a client error code to its HTTP status; codes not listed
// are plain 400s (validation).
func statusOf(code string) int {
	switch code {
	case apierr.Unauthorized, "invalid_credentials", "totp_required", "invalid_totp":
		return http.StatusUnauthorized
	case apierr.Forbidden, apierr.AccountFrozen, "csrf_failed":
		return http.StatusForbidden
	case apierr.NotFound:
		return http.StatusNotFound
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	case apierr.Conflict, "email_taken", "order_not_open":
		return http.StatusConflict
	case apierr.BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case apierr.UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case apierr.TooManyRequests:
		return http.StatusTooManyRequests
	case "not_ready", "timeout", "sequencer_unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// handleError is Echo's central error handler: client errors get their code
// and message; anything else is logged with the request id and answered
// with a bare 500 that reveals nothing internal.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var body errorBody
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	switch e, ok := apierr.As(err); {
	case ok:
		status, body.Error.Code, body.Error.Message = statusOf(e.Code), e.Code, e.Message
	case errors.As(err, &he) && he.Code < 500:
		status = he.Code
		body.Error.Code, body.Error.Message = httpErrorCode(he)
	case errors.Is(err, context.DeadlineExceeded):
		status, body.Error.Code, body.Error.Message = http.StatusServiceUnavailable, "timeout", "the request took too long; try again"
	default:
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.ErrorContext(c.Request().Context(), "request failed", "error", err.Error(), "request_id", reqID,
			"method", c.Request().Method, "route", routeOf(c))
		body.Error.Code, body.Error.Message = "internal_error", "internal error; quote request id "+reqID+" to support"
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "write error response", "error", err.Error())
	}
}

func httpErrorCode(he *echo.HTTPError) (string, string) {
	switch he.Code {
	case http.StatusNotFound:
		return apierr.NotFound, "no such route"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed", "method not allowed on this route"
	case http.StatusRequestEntityTooLarge:
		return apierr.BodyTooLarge, "request body is larger than 64 KiB"
	case http.StatusUnauthorized:
		return apierr.Unauthorized, "authentication required"
	case http.StatusForbidden:
		return apierr.Forbidden, "forbidden"
	case http.StatusServiceUnavailable:
		return "timeout", "the request took too long; try again"
	}
	return apierr.InvalidRequest, fmt.Sprint(he.Message)
}

// fieldCodes names the error code for a JSON field of the wrong type, so
// `"amount": 1.5` is an invalid_amount like any other bad amount.
var fieldCodes = map[string]string{
	"amount":         apierr.InvalidAmount,
	"price":          apierr.InvalidPrice,
	"quantity":       apierr.InvalidQuantity,
	"quote_quantity": apierr.InvalidQuantity,
}

// decodeJSON reads a JSON request body strictly: JSON content type, no
// unknown fields, no trailing data, one object.
func decodeJSON(c echo.Context, dst any) error {
	ct, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || ct != echo.MIMEApplicationJSON {
		return apierr.New(apierr.UnsupportedMedia, "send the body as Content-Type: application/json")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if he := new(echo.HTTPError); errors.As(err, &he) {
			return he
		}
		return apierr.New(apierr.InvalidJSON, "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he // the body limit tripped while reading
	case errors.Is(err, io.EOF):
		return apierr.New(apierr.InvalidJSON, "the request body is empty; send a JSON object")
	case errors.As(err, &syn):
		return apierr.New(apierr.InvalidJSON, "malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierr.New(apierr.InvalidJSON, "the JSON body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		code, ok := fieldCodes[field]
		if !ok {
			code = apierr.InvalidRequest
		}
		if field == "" {
			return apierr.New(apierr.InvalidJSON, "the body must be a JSON object")
		}
		return apierr.New(code, "%s must be a %s, got a JSON %s", field, typ.Type.Kind(), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apierr.New(apierr.UnknownField, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return apierr.New(apierr.InvalidJSON, "cannot read the JSON body")
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
				s.log.ErrorContext(c.Request().Context(), "panic in handler", "panic", fmt.Sprint(r),
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
		start := s.now()
		s.metrics.inFlight.Inc()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.metrics.inFlight.Dec()
		elapsed := s.now().Sub(start)
		req, res := c.Request(), c.Response()
		route := routeOf(c)
		s.metrics.observe(req.Method, route, res.Status, elapsed)
		level := slog.LevelInfo
		switch {
		case res.Status >= 500:
			level = slog.LevelError
		case route == "/healthz" || route == "/readyz" || route == "/metrics":
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
		s.log.LogAttrs(req.Context(), level, "http request", attrs...)
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
