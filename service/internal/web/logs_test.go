package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

// requestLines are the server's request log lines for method and route;
// every line of the log must be one JSON object.
func requestLines(t *testing.T, x *exchange, method, route string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(x.logs.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		if line["msg"] == "http request" && line["method"] == method && line["route"] == route {
			out = append(out, line)
		}
	}
	return out
}

// oneRequestLine is the only log line of method and route, with the
// stable keys every request line has.
func oneRequestLine(t *testing.T, x *exchange, method, route string) map[string]any {
	t.Helper()
	lines := requestLines(t, x, method, route)
	if len(lines) != 1 {
		t.Fatalf("%d log lines for %s %s, want 1:\n%s", len(lines), method, route, x.logs.String())
	}
	for _, k := range []string{"level", "msg", "request_id", "status"} {
		if v, ok := lines[0][k]; !ok || v == "" {
			t.Errorf("%s %s log line lacks %q: %v", method, route, k, lines[0])
		}
	}
	return lines[0]
}

// wantLogged checks the line's user_id, order_id and market (JSON numbers
// decode as float64).
func wantLogged(t *testing.T, line map[string]any, userID, orderID int64, market string) {
	t.Helper()
	if line["user_id"] != float64(userID) {
		t.Errorf("user_id %v, want %d: %v", line["user_id"], userID, line)
	}
	if orderID == 0 {
		return
	}
	if line["order_id"] != float64(orderID) || line["market"] != market {
		t.Errorf("order_id %v and market %v, want %d and %s: %v", line["order_id"], line["market"], orderID, market, line)
	}
}

// signUpVisitor signs a new trader up with the plain forms and returns
// the session's CSRF token.
func signUpVisitor(t *testing.T, v *visitor, email string) string {
	t.Helper()
	_, signup := v.get("/signup")
	v.post("/signup", url.Values{"csrf_token": {token(t, signup)}, "email": {email}, "password": {testPassword}, "password_again": {testPassword}}, "/login")
	v.logIn(email)
	_, wallet := v.get("/wallet")
	return token(t, wallet)
}

var recoveryCode = regexp.MustCompile(`<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>`)

func userID(t *testing.T, x *exchange, email string) int64 {
	t.Helper()
	var u auth.User
	if err := x.db.Where("email = ?", email).Take(&u).Error; err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// A web page's request is logged with its user, and placing or cancelling
// an order with the form is logged with the order and its market, as the
// JSON API's requests are.
func TestWebOrderLogLine(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	v := newVisitor(t, x)
	email := x.email("logged")
	csrf := signUpVisitor(t, v, email)
	uid := userID(t, x, email)
	wantLogged(t, oneRequestLine(t, x, "GET", "/wallet"), uid, 0, "")

	v.post("/wallet/deposits", url.Values{"csrf_token": {csrf}, "asset": {"USDT"}, "amount": {"100"}}, "/wallet")
	v.post("/markets/ETH-USDT/orders", url.Values{"csrf_token": {csrf}, "side": {"buy"}, "type": {"limit"}, "price": {"10"}, "quantity": {"1"}}, "/markets/ETH-USDT")
	var o struct{ ID int64 }
	if err := x.db.Raw("SELECT id FROM orders WHERE user_id = ?", uid).Scan(&o).Error; err != nil {
		t.Fatal(err)
	}
	wantLogged(t, oneRequestLine(t, x, "POST", "/markets/:market/orders"), uid, o.ID, "ETH-USDT")

	v.post(fmt.Sprintf("/orders/%d/cancel", o.ID), url.Values{"csrf_token": {csrf}, "back": {"/orders"}}, "/orders")
	wantLogged(t, oneRequestLine(t, x, "POST", "/orders/:id/cancel"), uid, o.ID, "ETH-USDT")
}

var totpSecretField = regexp.MustCompile(`id="totp-secret"[^>]*>([A-Z2-7]+)<`)

// Logging in on the web site with a password and a two-factor code, and
// posting forms with their CSRF token, leaves none of them (nor the session
// cookie) in the logs.
func TestNoSecretsInWebLogs(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	v := newVisitor(t, x)
	email := x.email("secretive")
	secrets := map[string]string{"password": testPassword}
	cookies := func(when string) {
		u, _ := url.Parse(x.url)
		for _, ck := range v.http.Jar.Cookies(u) {
			if ck.Name == auth.SessionCookie || ck.Name == "exchange_form" {
				secrets[ck.Name+" cookie "+when] = ck.Value
			}
		}
	}
	_, signup := v.get("/signup")
	secrets["sign-up form token"] = token(t, signup)
	v.post("/signup", url.Values{"csrf_token": {secrets["sign-up form token"]}, "email": {email}, "password": {testPassword}, "password_again": {testPassword}}, "/login")
	v.logIn(email)
	cookies("after signing up")
	_, wallet := v.get("/wallet")
	csrf := token(t, wallet)
	secrets["first session's csrf token"] = csrf

	v.post("/account/totp/setup", url.Values{"csrf_token": {csrf}}, "/account")
	_, account := v.get("/account")
	m := totpSecretField.FindStringSubmatch(account)
	if m == nil {
		t.Fatalf("no TOTP secret on the account page: %.500s", account)
	}
	secret := m[1]
	secrets["totp secret"] = secret
	enableCode := code(t, secret, time.Now())
	// The answer is the page itself, with the recovery codes shown once.
	status, _, account := v.send("POST", "/account/totp/enable", url.Values{"csrf_token": {csrf}, "password": {testPassword}, "totp_code": {enableCode}}, nil)
	if status != http.StatusOK || !strings.Contains(account, "Two-factor authentication is on") {
		t.Fatalf("two-factor authentication did not turn on: %d %.500s", status, account)
	}
	recovery := recoveryCode.FindAllStringSubmatch(account, -1)
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes on the page", len(recovery))
	}
	for i, m := range recovery {
		secrets[fmt.Sprintf("recovery code %d", i)] = m[1]
	}
	if _, account = v.get("/account"); strings.Contains(account, recovery[0][1]) || !strings.Contains(account, "10 unused recovery codes") {
		t.Fatalf("the account page shows recovery codes again, or not how many are left: %.500s", account)
	}
	v.post("/logout", url.Values{"csrf_token": {csrf}}, "/")

	_, login := v.get("/login")
	formToken := token(t, login)
	secrets["log-in form token"] = formToken
	secrets["wrong password"] = "not the password, but close"
	v.post("/login", url.Values{"csrf_token": {formToken}, "email": {email}, "password": {secrets["wrong password"]}, "totp_code": {wrongCode(t, secret)}}, "/login")
	// The enabling code's time step is spent; the next step's is accepted.
	loginCode := code(t, secret, time.Now().Add(30*time.Second))
	v.post("/login", url.Values{"csrf_token": {formToken}, "email": {email}, "password": {testPassword}, "totp_code": {loginCode}}, "/")
	cookies("after logging in")
	_, wallet = v.get("/wallet")
	secrets["second session's csrf token"] = token(t, wallet)
	v.post("/wallet/deposits", url.Values{"csrf_token": {token(t, wallet)}, "asset": {"USDT"}, "amount": {"5"}}, "/wallet")

	if secrets[auth.SessionCookie+" cookie after signing up"] == "" || secrets[auth.SessionCookie+" cookie after logging in"] == "" {
		t.Fatalf("no session cookie found: %v", secrets)
	}
	logs := x.logs.String()
	for name, s := range secrets {
		if s == "" {
			t.Errorf("the %s is empty", name)
		} else if strings.Contains(logs, s) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	// Six digits could be part of a latency or a request id by chance; a
	// code on its own could not.
	for name, c := range map[string]string{"enabling code": enableCode, "log-in code": loginCode} {
		if regexp.MustCompile(`(^|[^0-9A-Za-z])` + c + `([^0-9A-Za-z]|$)`).MatchString(logs) {
			t.Errorf("the two-factor %s appears in the logs", name)
		}
	}
	// The log-in line says who logged in.
	var ok bool
	for _, line := range requestLines(t, x, "POST", "/login") {
		ok = ok || line["user_id"] == float64(userID(t, x, email))
	}
	if !ok {
		t.Errorf("no log line of POST /login carries the user's id:\n%s", logs)
	}
}
