package httpapi_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

// withTOTP turns two-factor authentication on for c's user, as the
// account page would, and returns the secret and the recovery codes.
func (c *client) withTOTP() (string, []string) {
	t := c.x.t
	t.Helper()
	// One instant for the code and its check, so that a step boundary
	// between the two cannot put the earlier step out of the window.
	now := time.Now()
	a, err := auth.New(c.x.db, secretKey, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	userID, _ := strconv.ParseInt(c.userID, 10, 64)
	ctx, p := context.Background(), auth.Principal{UserID: userID}
	if err := a.StartTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, err := a.TOTP(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	secret := st.Pending.Secret()
	// A step earlier than now, so that the current code is still unused.
	code, _ := totp.GenerateCode(secret, now.Add(-30*time.Second))
	recovery, err := a.EnableTOTP(ctx, p, testPassword, code)
	if err != nil {
		t.Fatal(err)
	}
	return secret, recovery
}

func codeAt(secret string, offset time.Duration) string {
	c, _ := totp.GenerateCode(secret, time.Now().Add(offset))
	return c
}

// With two-factor authentication on, a session must show a current code
// again for what moves money or changes access.
func TestStepUpForSensitiveActions(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "2"}, 201, nil)
	secret, recovery := c.withTOTP()
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes", len(recovery))
	}
	withdraw := map[string]string{"asset": "BTC", "amount": "0.1", "address": "bc1qexampleaddress"}
	c.wantError("POST", "/api/v1/withdrawals", withdraw, 403, "step_up_required")
	withdraw["totp_code"] = "000000"
	c.wantError("POST", "/api/v1/withdrawals", withdraw, 403, "step_up_required")
	withdraw["totp_code"] = codeAt(secret, 0)
	c.mustJSON("POST", "/api/v1/withdrawals", withdraw, 201, nil)
	// Each code works once.
	c.wantError("POST", "/api/v1/withdrawals", withdraw, 403, "step_up_required")

	c.wantError("POST", "/api/v1/api-keys", map[string]any{"scopes": []string{"read"}}, 403, "step_up_required")
	c.mustJSON("POST", "/api/v1/api-keys", map[string]any{"scopes": []string{"read"}, "totp_code": codeAt(secret, 30*time.Second)}, 201, nil)

	change := map[string]string{"current_password": testPassword, "new_password": "an entirely new passphrase"}
	c.wantError("POST", "/api/v1/auth/password", change, 403, "step_up_required")
	// A recovery code stands in for the app, once.
	change["totp_code"] = recovery[0]
	c.mustJSON("POST", "/api/v1/auth/password", change, 204, nil)
	change = map[string]string{"current_password": "an entirely new passphrase", "new_password": "yet another new passphrase", "totp_code": recovery[0]}
	c.wantError("POST", "/api/v1/auth/password", change, 403, "step_up_required")

	// A recovery code logs in, once; the login needs some code.
	var acct struct{ User struct{ Email string } }
	c.mustJSON("GET", "/api/v1/account", nil, 200, &acct)
	login := map[string]string{"email": acct.User.Email, "password": "an entirely new passphrase"}
	x.anonymous().wantError("POST", "/api/v1/auth/login", login, 401, "totp_required")
	login["totp_code"] = recovery[1]
	x.anonymous().mustJSON("POST", "/api/v1/auth/login", login, 200, nil)
	x.anonymous().wantError("POST", "/api/v1/auth/login", login, 401, "invalid_totp")
	if containsAny(x.logs.String(), secret, recovery[0], recovery[1]) {
		t.Fatal("a two-factor secret or recovery code reached the logs")
	}
}

// Guessing step-up codes is throttled like guessing passwords.
func TestStepUpGuessesAreThrottled(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "2"}, 201, nil)
	c.withTOTP()
	withdraw := map[string]string{"asset": "BTC", "amount": "0.1", "address": "bc1qexampleaddress", "totp_code": "123456"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 12 {
		wg.Go(func() {
			_, body := c.do("POST", "/api/v1/withdrawals", withdraw)
			mu.Lock()
			codes[errorCode(body)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes["step_up_required"] != 5 || codes["too_many_requests"] != 7 {
		t.Fatalf("12 parallel wrong step-up codes: %v; want 5 checked, 7 refused", codes)
	}
}

// No single deposit can push a shared total to the edge of the range, and
// no account can hold more than its cap by deposits or adjustments; so no
// user can make another's valid deposit fail.
func TestDepositAndBalanceCaps(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	greedy, other := x.trader(), x.trader()
	greedy.wantError("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "92233720368"}, 400, "limit_exceeded")
	greedy.wantError("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1000.00000001"}, 400, "limit_exceeded")
	for range 10 {
		greedy.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1000"}, 201, nil)
	}
	greedy.wantError("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "0.00000001"}, 400, "limit_exceeded")
	// Parallel deposits cannot pass the cap together either.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	third := x.trader()
	for range 15 {
		wg.Go(func() {
			st, _ := third.do("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1000"})
			mu.Lock()
			if st == 201 {
				ok++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if ok != 10 {
		t.Fatalf("%d of 15 parallel deposits of 1000 went through; the cap of 10000 allows 10", ok)
	}
	// The external account, minus everything users hold, may pass what an
	// int64 amount holds; it is kept in NUMERIC, so others still deposit.
	if err := x.db.Exec("UPDATE balances SET available = available - 1e12 WHERE account_id = 1 AND asset = 'BTC'").Error; err != nil {
		t.Fatal(err)
	}
	if err := x.db.Exec("UPDATE balances SET available = available + 1e12 WHERE account_id = 2 AND asset = 'BTC'").Error; err != nil {
		t.Fatal(err)
	}
	other.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 201, nil)
	admin, second := x.admin(), x.admin()
	var adj struct{ ID string }
	admin.mustJSON("POST", "/api/v1/admin/adjustments", map[string]string{"user_id": greedy.userID, "asset": "BTC", "amount": "1", "reason": "over the cap"}, 201, &adj)
	second.wantError("POST", "/api/v1/admin/adjustments/"+adj.ID+"/approve", nil, 400, "limit_exceeded")
}

// Four eyes: money that enters (a credited deposit, an adjustment) or
// leaves (a sent withdrawal) needs two different admins, neither of them
// the account's owner, so one dishonest admin with a second account of
// their own cannot pay themselves; the audit trail records who did what.
func TestFourEyes(t *testing.T) {
	x := newExchange(t, config.ModeLive)
	alice, bob, carol := x.admin(), x.admin(), x.admin()
	puppet := x.trader() // alice's own second account, say

	// Alice's own deposit: she may not approve it at all.
	var d depositJSON
	alice.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "3"}, 201, &d)
	alice.wantError("POST", "/api/v1/admin/deposits/"+d.ID+"/approve", nil, 403, "four_eyes_required")
	// The puppet's deposit: one admin's approval credits nothing, twice
	// neither; a second admin's does.
	var pd depositJSON
	puppet.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1000"}, 201, &pd)
	alice.mustJSON("POST", "/api/v1/admin/deposits/"+pd.ID+"/approve", nil, 200, &pd)
	alice.wantError("POST", "/api/v1/admin/deposits/"+pd.ID+"/approve", nil, 403, "four_eyes_required")
	if av, _ := puppet.balance("BTC"); av != "0" || pd.Status != "pending" {
		t.Fatalf("one admin credited a deposit: %s, %+v", av, pd)
	}
	bob.mustJSON("POST", "/api/v1/admin/deposits/"+pd.ID+"/approve", nil, 200, &pd)
	if av, _ := puppet.balance("BTC"); av != "1000" || pd.Status != "credited" {
		t.Fatalf("two admins' approvals: %s, %+v", av, pd)
	}

	// Adjustments: proposed by one, applied by another; never to oneself.
	alice.wantError("POST", "/api/v1/admin/adjustments", map[string]string{"user_id": alice.userID, "asset": "BTC", "amount": "5", "reason": "paying myself"}, 403, "four_eyes_required")
	var adj struct{ ID, Status string }
	alice.mustJSON("POST", "/api/v1/admin/adjustments", map[string]string{"user_id": puppet.userID, "asset": "BTC", "amount": "500", "reason": "paying my puppet"}, 201, &adj)
	alice.wantError("POST", "/api/v1/admin/adjustments/"+adj.ID+"/approve", nil, 403, "four_eyes_required")
	carol.mustJSON("POST", "/api/v1/admin/adjustments/"+adj.ID+"/reject", nil, 200, &adj)
	if av, _ := puppet.balance("BTC"); av != "1000" || adj.Status != "rejected" {
		t.Fatalf("a rejected adjustment: %s, %+v", av, adj)
	}

	// Withdrawals: the owner never; one approval sends nothing.
	var w withdrawalJSON
	puppet.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "1", "address": "bc1qexampleaddress"}, 201, &w)
	alice.mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 200, &w)
	if w.Status != "pending" {
		t.Fatalf("one admin sent a withdrawal: %+v", w)
	}
	alice.wantError("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 403, "four_eyes_required")
	bob.mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 200, &w)
	if w.Status != "completed" {
		t.Fatalf("two admins' approvals: %+v", w)
	}

	var audit []string
	x.db.Raw("SELECT action || ' by ' || admin_id FROM admin_audit ORDER BY id").Scan(&audit)
	want := []string{"deposit_approved_first by " + alice.userID, "deposit_credited by " + bob.userID, "adjustment_proposed by " + alice.userID,
		"adjustment_rejected by " + carol.userID, "withdrawal_approved_first by " + alice.userID, "withdrawal_completed by " + bob.userID}
	if strings.Join(audit, "|") != strings.Join(want, "|") {
		t.Fatalf("audit trail %q, want %q", audit, want)
	}
	if err := x.db.Exec("DELETE FROM admin_audit").Error; err == nil {
		t.Fatal("the audit trail could be deleted")
	}
	x.checkLedger()
}

// Answers that carry a CSRF token, a key secret or account data are never
// cached; public market data may be.
func TestSecretsAreNotCached(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	var acct struct{ User struct{ Email string } }
	c.mustJSON("GET", "/api/v1/account", nil, 200, &acct)
	// A second login, in another browser: this one's session stays.
	if st, _, h := x.anonymous().doFull("POST", "/api/v1/auth/login", map[string]string{"email": acct.User.Email, "password": testPassword}, nil); st != 200 || h.Get("Cache-Control") != "no-store" {
		t.Errorf("login: %d, Cache-Control %q", st, h.Get("Cache-Control"))
	}
	for name, req := range map[string]struct {
		method, path string
		body         any
	}{
		"account":  {"GET", "/api/v1/account", nil},
		"new key":  {"POST", "/api/v1/api-keys", map[string]any{"scopes": []string{"read"}}},
		"balances": {"GET", "/api/v1/balances", nil},
		"register": {"POST", "/api/v1/auth/register", map[string]string{"email": "n@example.com", "password": testPassword}},
	} {
		st, _, h := c.doFull(req.method, req.path, req.body, nil)
		if st >= 300 || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q", name, st, h.Get("Cache-Control"))
		}
	}
}

// Two-factor cannot be turned on with a stolen session alone: it takes
// the password, and the owner gets a mail.
func TestTurningTwoFactorOnTakesThePassword(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	a, _ := auth.New(x.db, secretKey, time.Now)
	userID, _ := strconv.ParseInt(c.userID, 10, 64)
	ctx, p := context.Background(), auth.Principal{UserID: userID}
	if err := a.StartTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, _ := a.TOTP(ctx, userID)
	code, _ := totp.GenerateCode(st.Pending.Secret(), time.Now())
	if _, err := a.EnableTOTP(ctx, p, "not my password", code); err == nil {
		t.Fatal("two-factor turned on without the password")
	}
	if _, err := a.EnableTOTP(ctx, p, testPassword, code); err != nil {
		t.Fatal(err)
	}
	var mails int64
	x.db.Raw("SELECT count(*) FROM mail_outbox WHERE subject LIKE 'Two-factor authentication is on%'").Scan(&mails)
	if mails != 1 {
		t.Fatalf("%d mails about two-factor going on", mails)
	}
}

// Twenty-five keys asked for at once: exactly the twenty allowed.
func TestAPIKeyLimitHoldsInParallel(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			if st, _ := c.do("POST", "/api/v1/api-keys", map[string]any{"scopes": []string{"read"}}); st == 201 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 20 {
		t.Fatalf("%d keys made in parallel, want the 20 allowed", ok.Load())
	}
}

// Times outside what the database stores are refused, not a fault.
func TestCandleTimesOutOfRange(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.anonymous()
	for _, q := range []string{"from=9224318016000&to=9224318016060", "from=-211000000000", "to=9999999999999", "from=0001-01-01T00:00:00Z"} {
		c.wantError("GET", "/api/v1/markets/BTC-USDT/candles?"+q, nil, 400, "invalid_request")
	}
}
