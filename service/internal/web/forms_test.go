package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// visitor is a browser without JavaScript: a cookie jar that does not
// follow redirects, so each POST-redirect-GET step is visible.
type visitor struct {
	t    *testing.T
	x    *exchange
	http *http.Client
}

func newVisitor(t *testing.T, x *exchange) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, x: x, http: &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (v *visitor) send(method, path string, form url.Values, header map[string]string) (int, http.Header, string) {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.x.url+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, val := range header {
		req.Header.Set(k, val)
	}
	res, err := v.http.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func (v *visitor) get(path string) (int, string) {
	v.t.Helper()
	status, _, body := v.send("GET", path, nil, nil)
	return status, body
}

// post sends a form and expects a redirect to location.
func (v *visitor) post(path string, form url.Values, location string) {
	v.t.Helper()
	status, h, body := v.send("POST", path, form, nil)
	if status != http.StatusSeeOther || h.Get("Location") != location {
		v.t.Fatalf("POST %s: %d to %q, want 303 to %q; body %.300s", path, status, h.Get("Location"), location, body)
	}
}

// logIn logs in with the plain login form; the sign-up notice has filled
// in the address.
func (v *visitor) logIn(email string) {
	v.t.Helper()
	_, page := v.get("/login")
	if !strings.Contains(page, "If this address is new") || !strings.Contains(page, `value="`+email+`"`) {
		v.t.Fatalf("the login page after signing up: %.500s", page)
	}
	v.post("/login", url.Values{"csrf_token": {token(v.t, page)}, "email": {email}, "password": {testPassword}}, "/")
}

var tokenField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func token(t *testing.T, page string) string {
	t.Helper()
	m := tokenField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token field in %.300s", page)
	}
	return m[1]
}

// Without JavaScript every form still works, each state change needs the
// form's token, and pages that need a session send visitors to log in.
func TestFormsWithoutJavaScript(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	v := newVisitor(t, x)

	status, _, _ := v.send("GET", "/orders", nil, nil)
	if status != http.StatusSeeOther {
		t.Fatalf("GET /orders without a session: %d", status)
	}
	_, h, _ := v.send("GET", "/wallet", nil, nil)
	if h.Get("Location") != "/login?next=%2Fwallet" {
		t.Fatalf("GET /wallet without a session goes to %q", h.Get("Location"))
	}

	_, signup := v.get("/signup")
	form := url.Values{"email": {"plain@example.com"}, "password": {testPassword}, "password_again": {testPassword}}
	if status, _, body := v.send("POST", "/signup", form, nil); status != http.StatusForbidden || !strings.Contains(body, "out of date") {
		t.Fatalf("sign-up without the form token: %d %.300s", status, body)
	}
	form.Set("csrf_token", token(t, signup))
	v.post("/signup", form, "/login")
	v.logIn("plain@example.com")

	status, wallet := v.get("/wallet")
	if status != http.StatusOK || !strings.Contains(wallet, "plain@example.com") {
		t.Fatalf("GET /wallet after signing up: %d %.300s", status, wallet)
	}
	csrf := token(t, wallet)
	deposit := url.Values{"asset": {"USDT"}, "amount": {"250"}}
	if status, _, _ := v.send("POST", "/wallet/deposits", deposit, nil); status != http.StatusForbidden {
		t.Fatalf("deposit without the CSRF token: %d", status)
	}
	// The token counts only in the form body: a link cannot carry it.
	if status, _, _ := v.send("POST", "/wallet/deposits?csrf_token="+url.QueryEscape(csrf), deposit, nil); status != http.StatusForbidden {
		t.Fatalf("deposit with the CSRF token in the query string: %d", status)
	}
	deposit.Set("csrf_token", "forged")
	if status, _, _ := v.send("POST", "/wallet/deposits", deposit, nil); status != http.StatusForbidden {
		t.Fatalf("deposit with a forged CSRF token: %d", status)
	}
	deposit.Set("csrf_token", csrf)
	v.post("/wallet/deposits", deposit, "/wallet")
	if _, wallet = v.get("/wallet"); !strings.Contains(wallet, "Deposit of 250 USDT credited.") {
		t.Fatalf("the wallet does not confirm the deposit: %.500s", wallet)
	}
	// The message shows once.
	if _, wallet = v.get("/wallet"); strings.Contains(wallet, "Deposit of 250 USDT credited.") {
		t.Fatal("the deposit notice showed twice")
	}

	// A refused order comes back with the server's message and the form as typed.
	order := url.Values{"csrf_token": {csrf}, "side": {"buy"}, "type": {"limit"}, "price": {"10.001"}, "quantity": {"1"}}
	v.post("/markets/ETH-USDT/orders", order, "/markets/ETH-USDT")
	_, page := v.get("/markets/ETH-USDT")
	for _, want := range []string{"Price 10.001 is not a multiple of the tick size 0.01", `value="10.001"`} {
		if !strings.Contains(page, want) {
			t.Errorf("market page after a refused order lacks %q", want)
		}
	}
	// The market page's script asks for JSON and gets the same answer.
	status, _, body := v.send("POST", "/markets/ETH-USDT/orders", order, map[string]string{"Accept": "application/json"})
	if status != http.StatusBadRequest || !strings.Contains(body, `"code":"invalid_price"`) {
		t.Fatalf("refused order as JSON: %d %s", status, body)
	}
	order.Set("price", "10")
	status, _, body = v.send("POST", "/markets/ETH-USDT/orders", order, map[string]string{"Accept": "application/json"})
	if status != http.StatusOK || !strings.Contains(body, `"status":"open"`) {
		t.Fatalf("order as JSON: %d %s", status, body)
	}

	if status, body := v.get("/admin/wallet"); status != http.StatusForbidden || !strings.Contains(body, "for admins") {
		t.Fatalf("a trader on an admin page: %d", status)
	}
	if status, body := v.get("/markets/NOPE-USDT"); status != http.StatusNotFound || !strings.Contains(body, "Unknown market") {
		t.Fatalf("an unknown market: %d %.200s", status, body)
	}
	_, h, _ = v.send("GET", "/static/app.css", nil, nil)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("app.css served as %q", h.Get("Content-Type"))
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("CSP %q", h.Get("Content-Security-Policy"))
	}

	pw := url.Values{"csrf_token": {csrf}, "current_password": {testPassword}, "new_password": {"a brand new passphrase"}, "new_password_again": {"a different one"}}
	v.post("/account/password", pw, "/account")
	if _, page = v.get("/account"); !strings.Contains(page, "The two new passwords differ.") {
		t.Fatalf("account page after mismatched passwords: %.300s", page)
	}
	pw.Set("new_password_again", "a brand new passphrase")
	v.post("/account/password", pw, "/account")
	if _, page = v.get("/account"); !strings.Contains(page, "Password changed.") {
		t.Fatalf("account page after changing the password: %.300s", page)
	}

	v.post("/logout", url.Values{"csrf_token": {csrf}}, "/")
	if status, _, _ := v.send("GET", "/wallet", nil, nil); status != http.StatusSeeOther {
		t.Fatalf("GET /wallet after logging out: %d", status)
	}
}

// The order and wallet forms without JavaScript: amounts typed with
// thousands separators, a limit order by its total, refusals in the
// form's words with only that form filled back in, and cancel-all.
func TestOrderAndWalletFormsWithoutJavaScript(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	v := newVisitor(t, x)
	csrf := signUpVisitor(t, v, "forms@example.com")
	page := func(path string, want ...string) string {
		t.Helper()
		_, body := v.get(path)
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
		return body
	}

	v.post("/wallet/deposits", url.Values{"csrf_token": {csrf}, "asset": {"USDT"}, "amount": {" 1,000 "}}, "/wallet")
	page("/wallet", "Deposit of 1000 USDT credited.")
	// A refused deposit comes back in the deposit form, not the withdrawal's.
	v.post("/wallet/deposits", url.Values{"csrf_token": {csrf}, "asset": {"ETH"}, "amount": {"1,5"}}, "/wallet")
	wallet := page("/wallet", `Amount &#34;1,5&#34; is not an amount we can read`, `id="deposit-amount" name="amount" inputmode="decimal" autocomplete="off" required value="1,5"`,
		`id="withdraw-amount" name="amount" inputmode="decimal" autocomplete="off" required value=""`)
	if strings.Count(wallet, `<option value="ETH" selected>`) != 1 {
		t.Errorf("the refused deposit's asset is selected in %d forms", strings.Count(wallet, `<option value="ETH" selected>`))
	}
	v.post("/wallet/withdrawals", url.Values{"csrf_token": {csrf}, "asset": {"USDT"}, "amount": {"5,000"}, "address": {"addr-0001-test"}}, "/wallet")
	page("/wallet", "Available 1000 USDT", `id="withdraw-amount" name="amount" inputmode="decimal" autocomplete="off" required value="5,000"`,
		`id="deposit-amount" name="amount" inputmode="decimal" autocomplete="off" required value=""`)

	// A limit buy by its total: 25 USDT at 10 is 2.5 ETH.
	order := url.Values{"csrf_token": {csrf}, "side": {"buy"}, "type": {"limit"}, "price": {" 10 "}, "total": {"25"}}
	v.post("/markets/ETH-USDT/orders", order, "/markets/ETH-USDT")
	page("/markets/ETH-USDT", "placed: 2.5 ETH at 10 USDT is on the book.")
	// A market buy takes an amount or a total, and says so in the form's words.
	order = url.Values{"csrf_token": {csrf}, "side": {"buy"}, "type": {"market"}, "quantity": {"1"}, "total": {"1,000"}}
	v.post("/markets/ETH-USDT/orders", order, "/markets/ETH-USDT")
	body := page("/markets/ETH-USDT", "Give either an amount in ETH or a total in USDT for a market order, not both", `id="total" name="total" inputmode="decimal" autocomplete="off" value="1,000"`)
	if strings.Contains(body, "quote_quantity") {
		t.Error("the market page names the API field quote_quantity")
	}
	order = url.Values{"csrf_token": {csrf}, "side": {"buy"}, "type": {"market"}, "total": {"0.0000001"}}
	status, _, answer := v.send("POST", "/markets/ETH-USDT/orders", order, map[string]string{"Accept": "application/json"})
	if status != http.StatusBadRequest || !strings.Contains(answer, "Total 0.0000001 has more decimals than USDT allows") {
		t.Errorf("a total finer than the asset: %d %s", status, answer)
	}
	order = url.Values{"csrf_token": {csrf}, "side": {"buy"}, "type": {"limit"}, "price": {"10"}, "quantity": {"0.0001"}}
	status, _, answer = v.send("POST", "/markets/ETH-USDT/orders", order, map[string]string{"Accept": "application/json"})
	if status != http.StatusBadRequest || !strings.Contains(answer, "Amount 0.0001 is not a multiple of the lot size 0.001") {
		t.Errorf("an amount off the lot: %d %s", status, answer)
	}

	// Cancel all, as a plain form and as the script asks.
	v.post("/markets/ETH-USDT/orders/cancel-all", url.Values{"csrf_token": {csrf}}, "/markets/ETH-USDT")
	page("/markets/ETH-USDT", "Cancelled your open order in ETH-USDT.", "No open orders")
	status, _, answer = v.send("POST", "/markets/ETH-USDT/orders/cancel-all", url.Values{"csrf_token": {csrf}}, map[string]string{"Accept": "application/json"})
	if status != http.StatusOK || !strings.Contains(answer, "You had no open orders in ETH-USDT.") {
		t.Errorf("cancel-all with nothing open: %d %s", status, answer)
	}
	page("/orders", "cancelled · by you")
	checkLedger(t, x)
}
