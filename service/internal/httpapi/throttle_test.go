package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// behindProxy trusts X-Forwarded-For from loopback, as a server behind the
// ingress trusts the controller's pods: tests can then speak from any IP.
func behindProxy(c *config.Server) {
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	c.TrustedProxies = []*net.IPNet{loopback}
}

// loginFrom tries a login as if from ip and returns the status and error code.
func (c *client) loginFrom(ip, email, password string) (int, string, http.Header) {
	c.x.t.Helper()
	req := map[string]string{"email": email, "password": password}
	status, body, h := c.doFull("POST", "/api/v1/auth/login", req, map[string]string{"X-Forwarded-For": ip})
	return status, errorCode(body), h
}

// Twenty wrong passwords at once: exactly the limit (five) are checked,
// the rest are refused before any hashing, with Retry-After; afterwards
// even the right password waits out the window from that IP.
func TestParallelWrongPasswordsCountBeforeTheCheck(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	x.trader()
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			c := x.anonymous()
			status, code, h := c.loginFrom("", "trader1@example.com", "not the password")
			mu.Lock()
			defer mu.Unlock()
			counts[fmt.Sprint(status, " ", code)]++
			if status == 429 && h.Get("Retry-After") == "" {
				t.Error("a 429 without Retry-After")
			}
		})
	}
	wg.Wait()
	t.Logf("20 parallel wrong passwords: %v", counts)
	if counts["401 invalid_credentials"] != 5 || counts["429 too_many_requests"] != 15 {
		t.Fatalf("parallel wrong passwords: %v; want 5 checked and 15 refused", counts)
	}
	if st, code, _ := x.anonymous().loginFrom("", "trader1@example.com", testPassword); st != 429 || code != "too_many_requests" {
		t.Fatalf("right password from the locked IP: %d %s", st, code)
	}
}

// A stranger's guesses lock out the stranger, not the owner; a browser
// that logged in before is immune to the account's ceiling; and one noisy
// client behind a NAT does not lock out the others behind it.
func TestThrottleCannotBeTurnedAgainstTheOwner(t *testing.T) {
	x := newExchange(t, config.ModeDemo, behindProxy)
	x.trader() // trader1
	x.trader() // trader2, behind the same NAT as a noisy trader1
	owner := x.anonymous()
	if st, code, _ := owner.loginFrom("198.51.100.2", "trader1@example.com", testPassword); st != 200 {
		t.Fatalf("owner's first login: %d %s", st, code)
	}

	stranger := x.anonymous()
	for range 5 {
		stranger.loginFrom("203.0.113.7", "trader1@example.com", "guessing away")
	}
	if st, code, _ := stranger.loginFrom("203.0.113.7", "trader1@example.com", "guessing away"); st != 429 {
		t.Fatalf("stranger's sixth guess: %d %s", st, code)
	}
	// The owner, from another IP, on a new browser: not locked out.
	if st, code, _ := x.anonymous().loginFrom("198.51.100.9", "trader1@example.com", testPassword); st != 200 {
		t.Fatalf("owner from a new browser after a stranger's guesses: %d %s", st, code)
	}

	// Guesses from many IPs reach the account's slower ceiling (20 an
	// hour): new browsers must wait, the owner's known browser need not.
	for i := range 20 {
		x.anonymous().loginFrom(fmt.Sprintf("203.0.113.%d", 20+i), "trader1@example.com", "distributed guess")
	}
	if st, code, _ := x.anonymous().loginFrom("198.51.100.10", "trader1@example.com", testPassword); st != 429 {
		t.Fatalf("a new browser past the account's ceiling: %d %s", st, code)
	}
	if st, code, _ := owner.loginFrom("198.51.100.2", "trader1@example.com", testPassword); st != 200 {
		t.Fatalf("the owner's known browser past the account's ceiling: %d %s", st, code)
	}

	// Behind one NAT: trader2 mistypes until locked; trader3 logs in.
	nat := "192.0.2.44"
	for range 6 {
		x.anonymous().loginFrom(nat, "trader2@example.com", "mistyped password")
	}
	x.trader() // trader3
	if st, code, _ := x.anonymous().loginFrom(nat, "trader3@example.com", testPassword); st != 200 {
		t.Fatalf("a neighbour behind the same NAT: %d %s", st, code)
	}
}

// Without TRUSTED_PROXIES, X-Forwarded-For is anybody's to write: it must
// not let a guesser start afresh with every request.
func TestForwardedForIsNotTrustedByDefault(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	x.trader()
	for i := range 5 {
		x.anonymous().loginFrom("203.0.113."+strconv.Itoa(i), "trader1@example.com", "guessing away")
	}
	if st, code, _ := x.anonymous().loginFrom("203.0.113.99", "trader1@example.com", testPassword); st != 429 {
		t.Fatalf("a forged X-Forwarded-For reset the count: %d %s", st, code)
	}
}

// A burst of logins is answered at once, each with its answer or a 429
// that says when to come back, never left to time out while the CPU
// grinds through forty password hashes.
func TestLoginBurstIsBounded(t *testing.T) {
	x := newExchange(t, config.ModeDemo, behindProxy)
	counts := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 40 {
		wg.Go(func() {
			st, code, h := x.anonymous().loginFrom(fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("nobody%d@example.com", i), "some password here")
			mu.Lock()
			defer mu.Unlock()
			counts[st]++
			switch {
			case st == 401 && code == "invalid_credentials":
			case st == 429 && code == "too_many_requests" && h.Get("Retry-After") != "":
			default:
				t.Errorf("burst login: %d %s", st, code)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("40 concurrent logins: %v in %v", counts, took)
	if counts[401] == 0 || took > 5*time.Second {
		t.Fatalf("burst: %v in %v", counts, took)
	}
}

// A browser's standing ends with a password change: the devices that
// knew the old password no longer skip the account's ceilings, and a
// user is known on at most ten.
func TestDevicesEndWithThePassword(t *testing.T) {
	x := newExchange(t, config.ModeDemo, behindProxy)
	owner := x.trader()
	var devices int64
	for range 12 {
		x.anonymous().login("trader1@example.com", testPassword)
	}
	x.db.Raw("SELECT count(*) FROM login_devices").Scan(&devices)
	if devices != 10 {
		t.Fatalf("%d devices kept for one user, want at most 10", devices)
	}
	owner.mustJSON("POST", "/api/v1/auth/password", map[string]string{"current_password": testPassword, "new_password": "a whole new password"}, 204, nil)
	x.db.Raw("SELECT count(*) FROM login_devices").Scan(&devices)
	if devices != 0 {
		t.Fatalf("%d devices outlived the password change", devices)
	}
}

// The current password asked for again is throttled like a login: a
// stolen session cannot guess it faster.
func TestCurrentPasswordGuessesAreThrottled(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	for range 5 {
		c.wantError("POST", "/api/v1/auth/password", map[string]string{"current_password": "guess number one", "new_password": "a whole new password"}, 401, "invalid_credentials")
	}
	c.wantError("POST", "/api/v1/auth/password", map[string]string{"current_password": testPassword, "new_password": "a whole new password"}, 429, "too_many_requests")
}

// An address longer than any account's is a wrong login, not a fault.
func TestOverlongLoginEmail(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	long := strings.Repeat("a", 3000) + "@example.com"
	x.anonymous().wantError("POST", "/api/v1/auth/login", map[string]string{"email": long, "password": "whatever it is"}, 401, "invalid_credentials")
}
