// Package apierr is the error clients see: a stable snake_case code from the
// API contract, the kind of failure it is, and a message for people. Domain
// packages return these for anything the caller got wrong; every other
// error is a fault of ours. The transport maps each Kind to one HTTP status
// (package httperr), for the JSON API and the web pages alike.
package apierr

import (
	"errors"
	"fmt"
)

// Kind is what sort of client error a code is.
type Kind uint8

const (
	// KindInvalid: the request is malformed or breaks a rule.
	KindInvalid Kind = iota
	// KindUnauthenticated: no (valid) credentials.
	KindUnauthenticated
	// KindForbidden: the caller may not do this.
	KindForbidden
	// KindNotFound: no such record or route.
	KindNotFound
	// KindMethodNotAllowed: the route exists, the method does not.
	KindMethodNotAllowed
	// KindConflict: the record's state does not allow it now.
	KindConflict
	// KindTooLarge: the request body is over the limit.
	KindTooLarge
	// KindUnsupportedMedia: the body is not in a form we read.
	KindUnsupportedMedia
	// KindThrottled: over a rate limit; retry later.
	KindThrottled
	// KindUnavailable: we cannot serve it now; retry later.
	KindUnavailable
)

// Code is a stable error identifier of the API contract.
type Code string

// Every code that reaches a client; each is listed in api/openapi.yaml.
const (
	InvalidJSON          Code = "invalid_json"
	UnknownField         Code = "unknown_field"
	InvalidAmount        Code = "invalid_amount"
	InvalidPrice         Code = "invalid_price"
	InvalidQuantity      Code = "invalid_quantity"
	InvalidRequest       Code = "invalid_request"
	InvalidOrder         Code = "invalid_order"
	InvalidClientOrderID Code = "invalid_client_order_id"
	InvalidAddress       Code = "invalid_address"
	InvalidEmail         Code = "invalid_email"
	InvalidPassword      Code = "invalid_password"
	WeakPassword         Code = "weak_password"
	InvalidScope         Code = "invalid_scope"
	UnknownAsset         Code = "unknown_asset"
	UnknownMarket        Code = "unknown_market"
	InsufficientFunds    Code = "insufficient_funds"
	LimitExceeded        Code = "limit_exceeded"
	BelowMinNotional     Code = "below_min_notional"
	PostOnlyWouldTake    Code = "post_only_would_take"
	FOKNotFilled         Code = "fok_not_filled"
	MarketHalted         Code = "market_halted"
	Unauthorized         Code = "unauthorized"
	InvalidCredentials   Code = "invalid_credentials"
	TOTPRequired         Code = "totp_required"
	InvalidTOTP          Code = "invalid_totp"
	Forbidden            Code = "forbidden"
	AccountFrozen        Code = "account_frozen"
	CSRFFailed           Code = "csrf_failed"
	FourEyesRequired     Code = "four_eyes_required"
	NotFound             Code = "not_found"
	MethodNotAllowed     Code = "method_not_allowed"
	Conflict             Code = "conflict"
	EmailTaken           Code = "email_taken"
	OrderNotOpen         Code = "order_not_open"
	BodyTooLarge         Code = "body_too_large"
	UnsupportedMedia     Code = "unsupported_media_type"
	TooManyRequests      Code = "too_many_requests"
	NotReady             Code = "not_ready"
	Timeout              Code = "timeout"
	SequencerUnavailable Code = "sequencer_unavailable"
	DatabaseUnavailable  Code = "database_unavailable"
	InvalidInput         Code = "invalid_input"
	StepUpRequired       Code = "step_up_required"
)

// Internal is the code of a fault of ours: never an Error's, only the
// body of a 500 that says nothing else, so that a client can still read
// the error shape.
const Internal Code = "internal_error"

// kinds is the one table of which code is which kind. A code missing here
// is KindInvalid: a 400.
var kinds = map[Code]Kind{
	Unauthorized:         KindUnauthenticated,
	InvalidCredentials:   KindUnauthenticated,
	TOTPRequired:         KindUnauthenticated,
	InvalidTOTP:          KindUnauthenticated,
	Forbidden:            KindForbidden,
	AccountFrozen:        KindForbidden,
	CSRFFailed:           KindForbidden,
	FourEyesRequired:     KindForbidden,
	StepUpRequired:       KindForbidden,
	NotFound:             KindNotFound,
	MethodNotAllowed:     KindMethodNotAllowed,
	Conflict:             KindConflict,
	EmailTaken:           KindConflict,
	OrderNotOpen:         KindConflict,
	BodyTooLarge:         KindTooLarge,
	UnsupportedMedia:     KindUnsupportedMedia,
	TooManyRequests:      KindThrottled,
	NotReady:             KindUnavailable,
	Timeout:              KindUnavailable,
	SequencerUnavailable: KindUnavailable,
	DatabaseUnavailable:  KindUnavailable,
}

// KindOf is the kind of a code.
func KindOf(c Code) Kind { return kinds[c] }

// Error is a client error.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, tells a throttled client how many seconds to wait.
	RetryAfter int
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Kind is the error's kind, from its code.
func (e *Error) Kind() Kind { return KindOf(e.Code) }

// New builds an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Throttled is a too_many_requests error that says when to come back.
func Throttled(retryAfterSeconds int, format string, args ...any) *Error {
	e := New(TooManyRequests, format, args...)
	e.RetryAfter = max(retryAfterSeconds, 1)
	return e
}

// As reports whether err is (or wraps) a client error.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err is a client error with code.
func Is(err error, code Code) bool {
	e, ok := As(err)
	return ok && e.Code == code
}
