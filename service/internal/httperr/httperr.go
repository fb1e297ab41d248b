// Package httperr is where an error becomes an HTTP answer, for the JSON
// API and the web pages alike: one table from error kind to status, and
// the contract's error body.
package httperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/database"
)

// statuses is the one table from error kind to HTTP status.
var statuses = map[apierr.Kind]int{
	apierr.KindInvalid:          http.StatusBadRequest,
	apierr.KindUnauthenticated:  http.StatusUnauthorized,
	apierr.KindForbidden:        http.StatusForbidden,
	apierr.KindNotFound:         http.StatusNotFound,
	apierr.KindMethodNotAllowed: http.StatusMethodNotAllowed,
	apierr.KindConflict:         http.StatusConflict,
	apierr.KindTooLarge:         http.StatusRequestEntityTooLarge,
	apierr.KindUnsupportedMedia: http.StatusUnsupportedMediaType,
	apierr.KindThrottled:        http.StatusTooManyRequests,
	apierr.KindUnavailable:      http.StatusServiceUnavailable,
}

// Status is the HTTP status of a client error.
func Status(e *apierr.Error) int { return statuses[e.Kind()] }

// Body is the contract's error shape.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the code and message of an error body.
type Detail struct {
	Code    apierr.Code `json:"code"`
	Message string      `json:"message"`
}

// Classify turns any error a handler returned into the client error to
// show. ok is false for a fault of ours, which the caller logs and
// answers with a 500 that reveals nothing.
func Classify(err error) (*apierr.Error, bool) {
	if e, ok := apierr.As(err); ok {
		return e, true
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code < 500 {
		return fromEcho(he), true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return apierr.New(apierr.Timeout, "the request took too long; try again"), true
	}
	if database.Unavailable(err) {
		return apierr.New(apierr.DatabaseUnavailable, "the database cannot be reached right now; retry shortly (an order sent again with the same client_order_id is placed once)"), true
	}
	return nil, false
}

// fromEcho names the errors Echo's router and middleware raise.
func fromEcho(he *echo.HTTPError) *apierr.Error {
	switch he.Code {
	case http.StatusNotFound:
		return apierr.New(apierr.NotFound, "no such route")
	case http.StatusMethodNotAllowed:
		return apierr.New(apierr.MethodNotAllowed, "method not allowed on this route")
	case http.StatusRequestEntityTooLarge:
		return apierr.New(apierr.BodyTooLarge, "request body is larger than 64 KiB")
	case http.StatusUnauthorized:
		return apierr.New(apierr.Unauthorized, "authentication required")
	case http.StatusForbidden:
		return apierr.New(apierr.Forbidden, "forbidden")
	case http.StatusTooManyRequests:
		return apierr.Throttled(1, "too many requests; slow down")
	}
	return apierr.New(apierr.InvalidRequest, "%s", fmt.Sprint(he.Message))
}

// SetRetryAfter adds Retry-After for a throttled answer.
func SetRetryAfter(h http.Header, e *apierr.Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
}
