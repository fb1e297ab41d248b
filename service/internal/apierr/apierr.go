// Package apierr is the error clients see: a stable snake_case code from the
// API contract and a message for people. Domain packages return these for
// anything the caller got wrong; every other error is a fault of ours.
package apierr

import (
	"errors"
	"fmt"
)

// Codes shared by several packages. Packages may use others; each code that
// reaches a client is listed in api/openapi.yaml.
const (
	InvalidJSON       = "invalid_json"
	UnknownField      = "unknown_field"
	InvalidAmount     = "invalid_amount"
	InvalidPrice      = "invalid_price"
	InvalidQuantity   = "invalid_quantity"
	InvalidRequest    = "invalid_request"
	UnknownAsset      = "unknown_asset"
	UnknownMarket     = "unknown_market"
	InsufficientFunds = "insufficient_funds"
	LimitExceeded     = "limit_exceeded"
	NotFound          = "not_found"
	Conflict          = "conflict"
	Unauthorized      = "unauthorized"
	Forbidden         = "forbidden"
	AccountFrozen     = "account_frozen"
	TooManyRequests   = "too_many_requests"
	BodyTooLarge      = "body_too_large"
	UnsupportedMedia  = "unsupported_media_type"
)

// Error is a client error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New builds an Error with a formatted message.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// As reports whether err is (or wraps) a client error.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
