// Package ratelimit holds request budgets: token buckets per route class,
// one per user and one per client IP, as the large exchanges publish them.
// Each replica keeps its own buckets in memory, so with N replicas behind
// a load balancer a client may get up to N times a budget (the stated
// factor); the ingress controller's per-IP limit is the second layer.
package ratelimit

import (
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Class is a kind of request with budgets of its own.
type Class string

// The classes. Order entry and cancels are separate so that a trader out
// of order budget can still cancel.
const (
	Auth        Class = "auth"        // logins, password changes, two-factor
	SignUp      Class = "signup"      // new accounts
	Orders      Class = "orders"      // order entry; a batch weighs one per order
	Cancels     Class = "cancels"     // cancels and cancel-all
	Withdrawals Class = "withdrawals" // withdrawal requests
	Deposits    Class = "deposits"    // deposit requests
	Account     Class = "account"     // keys, logout and other account changes
	Admin       Class = "admin"       // everything an admin does
	Reads       Class = "reads"       // every GET: data, pages, static files
	WSConnect   Class = "ws_connect"  // WebSocket upgrades
	WSMessages  Class = "ws_messages" // subscribe/unsubscribe messages, per connection
)

// Scope is whose budget a bucket is.
type Scope string

const (
	ByUser Scope = "user"
	ByIP   Scope = "ip"
	// ByConn is one WebSocket connection's budget.
	ByConn Scope = "conn"
)

// Rule is a budget: Limit requests per Period on average, Burst at once.
type Rule struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// rate is tokens per second.
func (r Rule) rate() float64 { return float64(r.Limit) / r.Period.Seconds() }

// Rules are the budgets by class and scope; a missing one is unlimited.
type Rules map[Class]map[Scope]Rule

// Defaults are the budgets per replica. Per user they are what one
// trader's normal use, and a market maker's bursts, fit in; per IP they
// are wider, as many users may share an address (an office, a NAT).
func Defaults() Rules {
	r := func(limit int, period time.Duration, burst int) Rule { return Rule{limit, period, burst} }
	return Rules{
		Auth:        {ByUser: r(20, time.Minute, 10), ByIP: r(60, time.Minute, 30)},
		SignUp:      {ByIP: r(10, time.Hour, 5)},
		Orders:      {ByUser: r(50, time.Second, 50), ByIP: r(500, time.Second, 500)},
		Cancels:     {ByUser: r(100, time.Second, 100), ByIP: r(1000, time.Second, 1000)},
		Withdrawals: {ByUser: r(10, time.Minute, 5), ByIP: r(30, time.Minute, 15)},
		Deposits:    {ByUser: r(30, time.Minute, 10), ByIP: r(120, time.Minute, 30)},
		Account:     {ByUser: r(30, time.Minute, 20), ByIP: r(120, time.Minute, 60)},
		Admin:       {ByUser: r(20, time.Second, 40), ByIP: r(40, time.Second, 80)},
		Reads:       {ByUser: r(50, time.Second, 100), ByIP: r(200, time.Second, 400)},
		WSConnect:   {ByUser: r(30, time.Minute, 30), ByIP: r(60, time.Minute, 30)}, // each page of the site opens a socket: 10 a minute left a browsing trader's 11th page disconnected
		WSMessages:  {ByConn: r(10, time.Second, 20)},
	}
}

// Parse reads RATE_LIMITS: "off" (no limits: load tests only), or
// comma-separated overrides of the defaults, each
// class.scope=LIMIT/PERIOD[:BURST], e.g. "orders.user=100/1s:200,signup.ip=50/1h".
// A burst left out equals the limit.
func Parse(spec string) (Rules, error) {
	spec = strings.TrimSpace(spec)
	if spec == "off" {
		return Rules{}, nil
	}
	rules := Defaults()
	if spec == "" {
		return rules, nil
	}
	for _, item := range strings.Split(spec, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		class, scope, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 {
			return nil, fmt.Errorf("%q: want class.scope=LIMIT/PERIOD[:BURST]", item)
		}
		if _, known := Defaults()[Class(class)]; !known {
			return nil, fmt.Errorf("%q: unknown class %q", item, class)
		}
		if Scope(scope) != ByUser && Scope(scope) != ByIP && Scope(scope) != ByConn {
			return nil, fmt.Errorf("%q: scope must be user, ip or conn", item)
		}
		rule, err := parseRule(value)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		if rules[Class(class)] == nil {
			rules[Class(class)] = map[Scope]Rule{}
		}
		rules[Class(class)][Scope(scope)] = rule
	}
	return rules, nil
}

func parseRule(s string) (Rule, error) {
	rate, burst, hasBurst := strings.Cut(s, ":")
	limit, period, ok := strings.Cut(rate, "/")
	n, err1 := strconv.Atoi(limit)
	d, err2 := time.ParseDuration(period)
	if !ok || err1 != nil || err2 != nil || n <= 0 || d <= 0 || d > 24*time.Hour {
		return Rule{}, fmt.Errorf("want LIMIT/PERIOD, e.g. 50/1s or 10/1h")
	}
	r := Rule{Limit: n, Period: d, Burst: n}
	if hasBurst {
		b, err := strconv.Atoi(burst)
		if err != nil || b <= 0 {
			return Rule{}, fmt.Errorf("burst must be a positive integer")
		}
		r.Burst = b
	}
	return r, nil
}

// Decision is a budget's answer to one request.
type Decision struct {
	Allowed bool
	Rule    Rule
	// Remaining is what is left of the burst after this request.
	Remaining int
	// Reset is when the bucket is full again; RetryAfter, when refused,
	// is when the request would pass.
	Reset      time.Duration
	RetryAfter time.Duration
}

// maxBucketsPerShard bounds memory: 64 shards of this many buckets, about
// 100 bytes each, is some 100 MiB at most. A shard that is full and has no
// idle bucket to forget refuses new keys (fails closed) until one refills:
// an attacker with a million addresses must not reset anyone's budget.
const maxBucketsPerShard = 16384

// ClientKey is the key of a client's per-IP budgets: an IPv4 address, or
// an IPv6 address's /64, which one subscriber usually holds whole (so
// rotating addresses inside it buys nothing).
func ClientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Is4() || addr.Is4In6() {
		return ip
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// Limiter keeps the buckets. It is safe for concurrent use.
type Limiter struct {
	rules       Rules
	now         func() time.Time
	seed        maphash.Seed
	shards      [64]shard
	connections atomic.Uint64 // names connections for their own budgets
}

type shard struct {
	mu      sync.Mutex
	buckets map[bucketKey]*bucket
}

type bucketKey struct {
	class Class
	scope Scope
	key   string
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New makes a limiter for rules.
func New(rules Rules, now func() time.Time) *Limiter {
	l := &Limiter{rules: rules, now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[bucketKey]*bucket{}
	}
	return l
}

// Rule is the budget of class for scope, if there is one.
func (l *Limiter) Rule(class Class, scope Scope) (Rule, bool) {
	r, ok := l.rules[class][scope]
	return r, ok
}

// Take spends weight from key's bucket of class and scope. Without a rule
// every request is allowed (and Rule is zero). A refused request spends
// nothing.
func (l *Limiter) Take(class Class, scope Scope, key string, weight int) Decision {
	rule, ok := l.rules[class][scope]
	if !ok {
		return Decision{Allowed: true}
	}
	now := l.now()
	k := bucketKey{class, scope, key}
	sh := &l.shards[maphash.String(l.seed, string(class)+"\x00"+string(scope)+"\x00"+key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[k]
	if b == nil {
		if len(sh.buckets) >= maxBucketsPerShard {
			l.sweepLocked(sh, now)
		}
		if len(sh.buckets) >= maxBucketsPerShard {
			return Decision{Rule: rule, RetryAfter: time.Second}
		}
		b = &bucket{tokens: float64(rule.Burst), at: now}
		sh.buckets[k] = b
	}
	rate := rule.rate()
	b.tokens = math.Min(float64(rule.Burst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	d := Decision{Rule: rule}
	if b.tokens >= float64(weight) {
		b.tokens -= float64(weight)
		d.Allowed = true
	} else {
		d.RetryAfter = secondsDuration((float64(weight) - b.tokens) / rate)
	}
	d.Remaining = int(math.Floor(b.tokens))
	d.Reset = secondsDuration((float64(rule.Burst) - b.tokens) / rate)
	return d
}

// Sweep forgets buckets that have refilled completely: they are the same
// as new ones. Run it now and then so idle clients cost no memory.
func (l *Limiter) Sweep() {
	now := l.now()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		l.sweepLocked(sh, now)
		sh.mu.Unlock()
	}
}

func (l *Limiter) sweepLocked(sh *shard, now time.Time) {
	for k, b := range sh.buckets {
		rule := l.rules[k.class][k.scope]
		if b.tokens+now.Sub(b.at).Seconds()*rule.rate() >= float64(rule.Burst) {
			delete(sh.buckets, k)
		}
	}
}

// Size is how many buckets are kept, for the metrics.
func (l *Limiter) Size() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].buckets)
		l.shards[i].mu.Unlock()
	}
	return n
}

func secondsDuration(s float64) time.Duration {
	return time.Duration(math.Ceil(s * float64(time.Second)))
}
