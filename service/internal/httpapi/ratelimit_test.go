package httpapi_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
)

// withLimits runs the server with the default request budgets (the test
// harness otherwise runs without them: every test client is 127.0.0.1).
func withLimits(c *config.Server) { c.RateLimits = ratelimit.Defaults() }

// burst sends n requests from c at once and counts the answers by status;
// every 429 must say when to retry and what the budget is.
func burst(t *testing.T, c *client, n int, method, path string, body func(i int) any, headers map[string]string) (map[int]int, time.Duration) {
	t.Helper()
	counts := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			st, raw, h := c.doFull(method, path, body(i), headers)
			mu.Lock()
			defer mu.Unlock()
			counts[st]++
			if st == 429 && (h.Get("Retry-After") == "" || h.Get("RateLimit-Policy") == "" || errorCode(raw) != "too_many_requests") {
				t.Errorf("a 429 without Retry-After, RateLimit-Policy or its code: %v %s", h, raw)
			}
			if st >= 500 {
				t.Errorf("%s %s: %d %s", method, path, st, raw)
			}
		})
	}
	wg.Wait()
	return counts, time.Since(start)
}

// allowed is the most a token bucket may let through in elapsed.
func allowed(r ratelimit.Rule, elapsed time.Duration) int {
	return r.Burst + int(float64(r.Limit)*elapsed.Seconds()/r.Period.Seconds()) + 1
}

// 300 orders in a moment from one trader: the order budget (bursts of
// 50; here refilled at 50 a minute rather than the default 50 a second,
// so that a slow machine cannot refill it between the steps) lets through
// what it allows and refuses the rest with 429; cancels have their own
// budget and still work.
func TestOrderEntryIsRateLimited(t *testing.T) {
	rule := ratelimit.Rule{Limit: 50, Period: time.Minute, Burst: 50}
	x := newExchange(t, config.ModeDemo, withLimits, func(c *config.Server) { c.RateLimits[ratelimit.Orders][ratelimit.ByUser] = rule })
	c := x.trader()
	c.fund("USDT", "1000000")
	counts, took := burst(t, c, 300, "POST", "/api/v1/orders", func(i int) any {
		return map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"}
	}, nil)
	t.Logf("300 orders from one trader in %v: %v", took.Round(time.Millisecond), counts)
	if counts[201] < rule.Burst || counts[201] > allowed(rule, took) || counts[201]+counts[429] != 300 {
		t.Fatalf("300 orders in %v: %v; the budget allows %d to %d", took, counts, rule.Burst, allowed(rule, took))
	}
	// A batch weighs as many orders as it holds: fifty need a full bucket.
	batch := make([]map[string]any, 50)
	for i := range batch {
		batch[i] = map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"}
	}
	c.wantError("POST", "/api/v1/orders/batch", map[string]any{"orders": batch}, 429, "too_many_requests")
	// Cancelling is still possible when placing is not.
	c.mustJSON("DELETE", "/api/v1/orders?market=BTC-USDT", nil, 200, nil)
	x.checkLedger()
}

// Sign-ups and withdrawals, which used to be unlimited, are budgeted too,
// and every answer tells the client what is left.
func TestSignUpsAndWithdrawalsAreRateLimited(t *testing.T) {
	x := newExchange(t, config.ModeDemo, withLimits, behindProxy)
	anon := x.anonymous()
	var n atomic.Int64
	counts, _ := burst(t, anon, 12, "POST", "/api/v1/auth/register", func(int) any {
		return map[string]string{"email": fmt.Sprintf("mass%d@example.com", n.Add(1)), "password": testPassword}
	}, map[string]string{"X-Forwarded-For": "203.0.113.50"})
	if signup := ratelimit.Defaults()[ratelimit.SignUp][ratelimit.ByIP]; counts[201] != signup.Burst || counts[429] != 12-signup.Burst {
		t.Fatalf("12 sign-ups from one IP: %v", counts)
	}
	// Another address may still sign up.
	if st, _, _ := anon.doFull("POST", "/api/v1/auth/register", map[string]string{"email": "fresh@example.com", "password": testPassword},
		map[string]string{"X-Forwarded-For": "203.0.113.51"}); st != 201 {
		t.Fatalf("a sign-up from another IP: %d", st)
	}

	c := x.trader()
	c.fund("BTC", "5")
	st, _, h := c.doFull("GET", "/api/v1/balances", nil, nil)
	if st != 200 || h.Get("RateLimit-Limit") == "" || h.Get("RateLimit-Remaining") == "" || h.Get("RateLimit-Reset") == "" {
		t.Fatalf("a read's budget headers: %d %v", st, h)
	}
	counts, _ = burst(t, c, 10, "POST", "/api/v1/withdrawals", func(int) any {
		return map[string]string{"asset": "BTC", "amount": "0.01", "address": "bc1qexampleaddress"}
	}, nil)
	if w := ratelimit.Defaults()[ratelimit.Withdrawals][ratelimit.ByUser]; counts[201] != w.Burst || counts[429] != 10-w.Burst {
		t.Fatalf("10 withdrawals at once: %v", counts)
	}
	// Out of withdrawal budget, the trader can still take one back: a
	// cancel is charged to the cancels class.
	var list struct{ Data []withdrawalJSON }
	c.mustJSON("GET", "/api/v1/withdrawals", nil, 200, &list)
	if len(list.Data) == 0 {
		t.Fatal("no withdrawal to cancel")
	}
	st, raw, h := c.doFull("DELETE", "/api/v1/withdrawals/"+list.Data[0].ID, nil, nil)
	if st != 200 || !strings.Contains(h.Get("RateLimit-Policy"), "class=cancels") {
		t.Fatalf("cancelling a withdrawal with the withdrawal budget spent: %d %q %s", st, h.Get("RateLimit-Policy"), raw)
	}
	x.checkLedger()
}

// Each replica keeps its own buckets: across two replicas a trader gets at
// most twice a budget, the factor docs/security.md states.
func TestRateLimitsAcrossReplicas(t *testing.T) {
	x := newExchange(t, config.ModeDemo, withLimits)
	y := x.join()
	c := x.trader()
	c.fund("USDT", "1000000")
	onY := *c
	onY.x = y
	rule := ratelimit.Defaults()[ratelimit.Orders][ratelimit.ByUser]
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 400 {
		via := c
		if i%2 == 1 {
			via = &onY
		}
		wg.Go(func() {
			st, _ := via.do("POST", "/api/v1/orders", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"})
			if st == 201 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("400 orders over two replicas in %v: %d accepted; one replica allows %d", took.Round(time.Millisecond), ok.Load(), allowed(rule, took))
	if n := int(ok.Load()); n <= rule.Burst || n > 2*allowed(rule, took) {
		t.Fatalf("%d accepted over two replicas in %v; want more than one bucket's %d and at most twice %d", n, took, rule.Burst, allowed(rule, took))
	}
}

// A socket cannot flood the server with subscribe messages.
func TestWebSocketMessagesAreRateLimited(t *testing.T) {
	x := newExchange(t, config.ModeDemo, withLimits)
	w := x.dialWS(nil)
	for range 40 {
		w.send("subscribe", "ticker:BTC-USDT")
	}
	if e := w.next("error", ""); e.Code != "too_many_requests" {
		t.Fatalf("after 40 messages at once: %+v", e)
	}
}
