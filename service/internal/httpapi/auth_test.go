package httpapi_test

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

func TestRegistrationRules(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.anonymous()
	c.wantError("POST", "/api/v1/auth/register", map[string]string{"email": "not-an-email", "password": testPassword}, 400, "invalid_email")
	c.wantError("POST", "/api/v1/auth/register", map[string]string{"email": "a@example.com", "password": "short"}, 400, "weak_password")
	// NIST SP 800-63B: a length floor and no common or guessable password;
	// no composition rules.
	for _, weak := range []string{"short", "elevenchars", "password1234", "qwertyuiop123", "aaaaaaaaaaaaaaaa", "a@example.com", "exchange2024!"} {
		c.wantError("POST", "/api/v1/auth/register", map[string]string{"email": "a@example.com", "password": weak}, 400, "weak_password")
	}
	// The answer is the same whether or not the address already has an
	// account: only the mail to the address tells its owner which.
	status, first := c.do("POST", "/api/v1/auth/register", map[string]string{"email": "A@Example.com", "password": testPassword})
	again, second := c.do("POST", "/api/v1/auth/register", map[string]string{"email": "a@example.COM", "password": "another fine passphrase"})
	if status != 201 || again != 201 || string(first) != string(second) {
		t.Fatalf("sign-ups differ: %d %s / %d %s", status, first, again, second)
	}
	var mails []string
	x.db.Raw("SELECT subject FROM mail_outbox WHERE to_email = 'a@example.com' ORDER BY id").Scan(&mails)
	if len(mails) != 2 || !strings.Contains(mails[0], "ready") || !strings.Contains(mails[1], "tried to sign up") {
		t.Fatalf("mails to the owner: %q", mails)
	}
	x.anonymous().login("a@example.com", testPassword) // the first password stands
	c.wantError("POST", "/api/v1/auth/register", map[string]string{"email": "b@example.com", "password": testPassword, "role": "admin"}, 400, "unknown_field")
}

func TestSessionCookieAndCSRF(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.anonymous()
	c.mustJSON("POST", "/api/v1/auth/register", map[string]string{"email": "s@example.com", "password": testPassword}, 201, nil)
	req, _ := http.NewRequest("POST", x.url+"/api/v1/auth/login", strings.NewReader(`{"email":"s@example.com","password":"`+testPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookie := res.Header.Get("Set-Cookie")
	for _, want := range []string{"exchange_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
	// The test server is plain HTTP, configured like `exchange dev`.
	if strings.Contains(cookie, "Secure") {
		t.Errorf("Set-Cookie %q is Secure on a plain-HTTP dev server", cookie)
	}
	c.wantError("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 403, "csrf_failed")
	var acct struct {
		CSRFToken string `json:"csrf_token"`
	}
	c.mustJSON("GET", "/api/v1/account", nil, 200, &acct) // a GET needs no token
	c.csrf = "forged"
	c.wantError("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 403, "csrf_failed")
	c.csrf = acct.CSRFToken
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 201, nil)
	c.mustJSON("POST", "/api/v1/auth/logout", nil, 204, nil)
	c.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")
}

func TestSecureCookieOutsideDev(t *testing.T) {
	x := newExchange(t, config.ModeDemo, func(c *config.Server) { c.SecureCookies = true })
	c := x.anonymous()
	c.mustJSON("POST", "/api/v1/auth/register", map[string]string{"email": "p@example.com", "password": testPassword}, 201, nil)
	req, _ := http.NewRequest("POST", x.url+"/api/v1/auth/login", strings.NewReader(`{"email":"p@example.com","password":"`+testPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https") // as the TLS-terminating ingress sends
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("Set-Cookie %q must be Secure", res.Header.Get("Set-Cookie"))
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("HSTS header missing")
	}
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	laptop := x.trader()
	email := "trader1@example.com"
	phone := x.anonymous()
	phone.login(email, testPassword)
	laptop.wantError("POST", "/api/v1/auth/password", map[string]string{"current_password": "wrong one!!", "new_password": "a whole new password"}, 401, "invalid_credentials")
	laptop.wantError("POST", "/api/v1/auth/password", map[string]string{"current_password": testPassword, "new_password": "short"}, 400, "weak_password")
	bot := laptop.apiKey("read")
	bot.mustJSON("GET", "/api/v1/balances", nil, 200, nil)
	laptop.mustJSON("POST", "/api/v1/auth/password", map[string]string{"current_password": testPassword, "new_password": "a whole new password"}, 204, nil)
	laptop.mustJSON("GET", "/api/v1/balances", nil, 200, nil)
	phone.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")
	// A key made with the old password may have been made by whoever had
	// it: a new password revokes every key.
	bot.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")
	x.anonymous().wantError("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, 401, "invalid_credentials")
	x.anonymous().login(email, "a whole new password")
}

func TestAPIKeys(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	owner := x.trader()
	owner.wantError("POST", "/api/v1/api-keys", map[string]any{"scopes": []string{"admin"}}, 400, "invalid_scope")
	owner.wantError("POST", "/api/v1/api-keys", map[string]any{"scopes": []string{}}, 400, "invalid_scope")
	reader := owner.apiKey("read")
	trader := owner.apiKey("read", "trade")

	reader.mustJSON("GET", "/api/v1/balances", nil, 200, nil)
	reader.wantError("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 403, "forbidden")
	trader.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 201, nil)
	trader.wantError("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "1", "address": "bc1qexampleaddress"}, 403, "forbidden")
	// A key cannot mint keys, change the password or reach admin routes.
	trader.wantError("POST", "/api/v1/api-keys", map[string]any{"scopes": []string{"withdraw"}}, 403, "forbidden")
	trader.wantError("GET", "/api/v1/api-keys", nil, 403, "forbidden")

	var acct struct {
		KeyID     string `json:"key_id"`
		CSRFToken string `json:"csrf_token"`
	}
	reader.mustJSON("GET", "/api/v1/account", nil, 200, &acct)
	if acct.KeyID != reader.key || acct.CSRFToken != "" {
		t.Fatalf("account via key = %+v", acct)
	}

	signed := func(ts time.Time, secret, method, path, body string) map[string]string {
		s := strconv.FormatInt(ts.Unix(), 10)
		return map[string]string{"EX-KEY": reader.key, "EX-TIMESTAMP": s,
			"EX-SIGNATURE": hex.EncodeToString(auth.Sign(secret, s, method, path, []byte(body)))}
	}
	anon := x.anonymous()
	real := time.Now()
	now := real.Add(2 * time.Second) // unlike the signatures above, still within the window
	h := signed(now, reader.secret, "GET", "/api/v1/balances", "")
	if st, _ := anon.doWithHeaders("GET", "/api/v1/balances", nil, h); st != 200 {
		t.Fatalf("fresh signature: %d", st)
	}
	for name, headers := range map[string]map[string]string{
		"replayed signature": h,
		"stale timestamp":    signed(real.Add(-5*time.Minute), reader.secret, "GET", "/api/v1/balances", ""),
		"future timestamp":   signed(real.Add(5*time.Minute), reader.secret, "GET", "/api/v1/balances", ""),
		"wrong secret":       signed(now, "not-the-secret", "GET", "/api/v1/balances", ""),
		"other path signed":  signed(now.Add(time.Second), reader.secret, "GET", "/api/v1/deposits", ""),
		"not hex":            {"EX-KEY": reader.key, "EX-TIMESTAMP": strconv.FormatInt(now.Unix(), 10), "EX-SIGNATURE": "zz"},
		"unknown key":        {"EX-KEY": "ak_nope", "EX-TIMESTAMP": h["EX-TIMESTAMP"], "EX-SIGNATURE": h["EX-SIGNATURE"]},
	} {
		st, body := anon.doWithHeaders("GET", "/api/v1/balances", nil, headers)
		if st != 401 || !strings.Contains(string(body), `"unauthorized"`) {
			t.Errorf("%s: got %d %s, want 401 unauthorized", name, st, body)
		}
	}
	// One signed request sent 16 times at once, a replay racing its
	// original: the signatures share a statement (group commit), and
	// exactly one is served.
	raced := signed(now.Add(time.Second), reader.secret, "GET", "/api/v1/balances", "")
	var served, refused atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			switch st, _ := anon.doWithHeaders("GET", "/api/v1/balances", nil, raced); st {
			case 200:
				served.Add(1)
			case 401:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if served.Load() != 1 || refused.Load() != 15 {
		t.Errorf("one signature sent 16 times at once: %d served, %d refused; want 1 and 15", served.Load(), refused.Load())
	}

	var keys []struct {
		KeyID     string  `json:"key_id"`
		RevokedAt *string `json:"revoked_at"`
	}
	owner.mustJSON("GET", "/api/v1/api-keys", nil, 200, &keys)
	raw, _ := json.Marshal(keys)
	if len(keys) != 2 || strings.Contains(string(raw), reader.secret) {
		t.Fatalf("listed keys = %s", raw)
	}
	owner.mustJSON("DELETE", "/api/v1/api-keys/"+reader.key, nil, 204, nil)
	reader.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")
	owner.wantError("DELETE", "/api/v1/api-keys/ak_nope", nil, 404, "not_found")
	// Another user cannot revoke this user's key.
	x.trader().wantError("DELETE", "/api/v1/api-keys/"+trader.key, nil, 404, "not_found")

	// The secret is sealed in the database, never stored in the clear.
	var stored int64
	x.db.Raw("SELECT count(*) FROM api_keys WHERE position(convert_to(?, 'UTF8') in secret_sealed) > 0", trader.secret).Scan(&stored)
	if stored != 0 {
		t.Fatal("an API key secret is stored in the clear")
	}
}

func TestAdminRoutesNeedAdmin(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	for _, path := range []string{"/api/v1/admin/deposits", "/api/v1/admin/withdrawals"} {
		c.wantError("GET", path, nil, 403, "forbidden")
		x.anonymous().wantError("GET", path, nil, 401, "unauthorized")
	}
	admin := x.admin()
	admin.wantError("GET", "/api/v1/admin/deposits?status=bogus", nil, 400, "invalid_request")
	admin.wantError("POST", "/api/v1/admin/users/"+admin.userID+"/freeze", nil, 403, "forbidden")
}

// Credentials and session tokens must never reach the logs.
func TestNoSecretsInLogs(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	bot := c.apiKey("read")
	bot.mustJSON("GET", "/api/v1/balances", nil, 200, nil)
	c.wantError("POST", "/api/v1/auth/login", map[string]string{"email": "trader1@example.com", "password": "a wrong password"}, 401, "invalid_credentials")
	logs := x.logs.String()
	for name, secret := range map[string]string{"password": testPassword, "wrong password": "a wrong password", "csrf token": c.csrf, "api secret": bot.secret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	var cookie string
	u, _ := http.NewRequest("GET", x.url, nil)
	for _, ck := range c.http.Jar.Cookies(u.URL) {
		cookie = ck.Value
	}
	if cookie == "" || strings.Contains(logs, cookie) {
		t.Error("the session token appears in the logs (or no cookie was found)")
	}
	// One line per request with the fields operators filter on.
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.Contains(l, `"route":"/api/v1/balances"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line is not JSON: %s", l)
			}
		}
	}
	for _, k := range []string{"level", "msg", "method", "route", "status", "latency_seconds", "request_id", "user_id"} {
		if _, ok := line[k]; !ok {
			t.Errorf("request log line lacks %q: %v", k, line)
		}
	}
}
