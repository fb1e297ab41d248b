package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// Context keys; only this package reads or writes them.
const (
	limiterKey = "ratelimit_limiter"
	classKey   = "ratelimit_class"
)

// Classifier names a request's class; false exempts it (health checks).
type Classifier func(c echo.Context) (Class, bool)

// Middleware spends each request's per-IP budget of its class and keeps
// the class for ChargeUser, which spends the per-user budget once the
// request is authenticated. It answers 429 with Retry-After when a budget
// is spent, and tells every client what is left (RateLimit-* headers).
func Middleware(l *Limiter, classify Classifier) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			class, limited := classify(c)
			if !limited {
				return next(c)
			}
			c.Set(limiterKey, l)
			c.Set(classKey, class)
			if err := answer(c, class, ByIP, l.Take(class, ByIP, ClientKey(c.RealIP()), 1)); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// ChargeIP spends weight more of the client address's budget for the
// request's class, beyond the one request Middleware spent: a batch of
// orders weighs as many orders.
func ChargeIP(c echo.Context, weight int) error {
	return charge(c, ByIP, ClientKey(c.RealIP()), weight)
}

// ChargeUser spends weight of the user's budget for the request's class:
// a batch of orders weighs as many orders.
func ChargeUser(c echo.Context, userID int64, weight int) error {
	return charge(c, ByUser, strconv.FormatInt(userID, 10), weight)
}

// charge spends nothing for a request Middleware did not classify: an
// exempt route has no budgets to answer from.
func charge(c echo.Context, scope Scope, key string, weight int) error {
	l, ok := c.Get(limiterKey).(*Limiter)
	class, _ := c.Get(classKey).(Class)
	if !ok || weight <= 0 {
		return nil
	}
	return answer(c, class, scope, l.Take(class, scope, key, weight))
}

// Connection returns what a long-lived connection calls for each message
// it receives: it spends the connection's own budget of class and says
// when the budget is spent. Without a limiter on c it allows everything.
func Connection(c echo.Context, class Class) func() error {
	l, ok := c.Get(limiterKey).(*Limiter)
	if !ok {
		return func() error { return nil }
	}
	key := strconv.FormatUint(l.connections.Add(1), 10)
	return func() error {
		d := l.Take(class, ByConn, key, 1)
		if d.Allowed {
			return nil
		}
		return refusal(class, ByConn, d)
	}
}

// Charger returns what a long-lived connection of userID calls to spend
// the user's and the client address's budgets of a class, weight at a
// time, as requests of that class would: orders sent over a WebSocket
// weigh what the same orders would over HTTP. Without a limiter on c it
// allows everything.
func Charger(c echo.Context, userID int64) func(class Class, weight int) error {
	l, ok := c.Get(limiterKey).(*Limiter)
	if !ok {
		return func(Class, int) error { return nil }
	}
	ip, user := ClientKey(c.RealIP()), strconv.FormatInt(userID, 10)
	return func(class Class, weight int) error {
		if weight <= 0 {
			return nil
		}
		for _, scope := range []struct {
			Scope
			key string
		}{{ByIP, ip}, {ByUser, user}} {
			if d := l.Take(class, scope.Scope, scope.key, weight); d.Rule.Limit != 0 && !d.Allowed {
				return refusal(class, scope.Scope, d)
			}
		}
		return nil
	}
}

// answer sets the headers for d (the last budget checked wins, so an
// authenticated request shows its user's) and refuses if d does.
func answer(c echo.Context, class Class, scope Scope, d Decision) error {
	if d.Rule.Limit == 0 {
		return nil
	}
	h := c.Response().Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Rule.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
	h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d;burst=%d;class=%s;scope=%s", d.Rule.Limit, ceilSeconds(d.Rule.Period), d.Rule.Burst, class, scope))
	if d.Allowed {
		return nil
	}
	return refusal(class, scope, d)
}

func refusal(class Class, scope Scope, d Decision) error {
	per := "per " + string(scope)
	if scope == ByConn {
		per = "per connection"
	}
	return apierr.Throttled(ceilSeconds(d.RetryAfter), "too many %s requests: %d per %s %s (bursts of %d); retry in %d s",
		class, d.Rule.Limit, d.Rule.Period, per, d.Rule.Burst, ceilSeconds(d.RetryAfter))
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }
