package httpapi_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

// Hostile values for a path parameter, already escaped for the path;
// those with bytes that are not printable UTF-8 must be refused at the
// edge, the others are someone's odd id and answered as such.
var hostilePathValues = []string{
	"0", "-1", "1.5", "99999999999999999999", "9223372036854775808", "1e3",
	"%00", "a%00b", "%FF", "%C0%AF", "%ED%A0%80", "%E2%80%AE", "%0A", "%0D%0A", "%09",
	"..%2F..%2Fetc%2Fpasswd", "%2E%2E", "%25", "'%3B%20DROP%20TABLE%20users%3B--",
	"%3Cscript%3E", "%F0%9F%92%A9", strings.Repeat("A", 2000), "BTC-USDT%00", "ak_" + strings.Repeat("x", 16) + "%00",
}

var unprintable = regexp.MustCompile(`%00|%FF|%C0|%ED|%0A|%0D|%09`)

// corpus is a list of hostile inputs, each marked with whether the edge
// must refuse it (bytes that are not clean text) or may pass it on to be
// answered as an odd but harmless value.
type corpus []struct {
	v      string
	refuse bool
}

// Hostile query strings, raw.
var hostileQueries = corpus{
	{"limit=%00", true}, {"cursor=%FF", true}, {"market=BTC%00USDT", true}, {"status=%C0%AF", true}, {"q=%00%00", true},
	{"interval=1m%0A", true}, {"from=%FF&to=%FE", true}, {"a=%zz", true}, {"a=1;b=2", true}, {"%00=1", true},
	{"limit=-1&cursor=-5", false}, {"depth=99999999999999999999", false}, {"next=%2F%2Fevil.example", false},
	{"market=" + strings.Repeat("%E2%80%AE", 200), false},
}

// Hostile JSON bodies.
var hostileJSON = corpus{
	{`null`, false}, {`[]`, false}, {`"x"`, false}, {`{}`, false},
	{`{`, true}, {`{}{}`, true}, {`{"a":1}x`, true},
	{"{\"asset\":\"BTC\x00\",\"amount\":\"1\"}", true}, {`{"asset":"BTC\u0000","amount":"1"}`, true},
	{"{\"asset\":\"\xff\xfe\",\"amount\":\"1\"}", true}, {"{\"email\":\"a\xc0\xafb@example.com\",\"password\":\"x\"}", true},
	{`{"email":"a@example.com\u0000","password":"correct horse battery staple"}`, true},
	{`{"market":"BTC-USDT","market":"ETH-USDT"}`, true}, {`{"market":"BTC-USDT","Market":"ETH-USDT"}`, true},
	{`{"label":"\u0007bell","scopes":["read"]}`, true}, {`{"reason":"\u0000","user_id":"1","asset":"BTC","amount":"1"}`, true},
	{`{"orders":[{"market":"BTC\u0000"}]}`, true}, {`{"totp_code":"\ud800"}`, true},
	{`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, true},
	{`{"AMOUNT":"1","asset":"BTC"}`, false}, {`{"amount":1e309}`, false}, {`{"amount":"1","asset":["BTC"]}`, false},
	{`{"price":"` + strings.Repeat("9", 5000) + `"}`, false}, {`{"address":"bc1q\u202eexample","asset":"BTC","amount":"1"}`, false},
}

// Hostile form bodies (raw application/x-www-form-urlencoded), with the
// session's token added where it has one.
var hostileForms = corpus{
	{"email=a%00b%40example.com&password=x", true}, {"amount=%FF&asset=BTC", true}, {"asset=BTC%00&amount=1", true},
	{"label=%C0%AF&scopes=read", true}, {"q=%00", true}, {"reason=%ED%A0%80", true}, {"next=%00", true},
	{"totp_code=%FF%FF", true}, {"a=%zz", true}, {"a=1;b=2", true}, {"price=1%072&side=buy", true},
	{"price=1%0A2&quantity=1&side=buy&type=limit", false}, {"address=" + strings.Repeat("%E2%80%AE", 300), false},
	// Amounts as the forms read them: separators in odd places, a total
	// against a price of zero, a total that buys no lot, both kinds of
	// amount at once, a pasted wall of digits.
	{"price=1,0,0&quantity=1&side=buy&type=limit", false}, {"price=1%E2%80%AF000&total=%2C&side=sell&type=limit", false},
	{"price=0&total=100&side=buy&type=limit", false}, {"price=30000&total=0.0000001&side=buy&type=limit", false},
	{"quantity=1&total=1,000&side=buy&type=market", false}, {"total=99,999,999,999,999&side=buy&type=market", false},
	{"price=" + strings.Repeat("9,999", 400) + "&total=1&side=buy&type=limit", false}, {"amount=1,000,00&asset=USDT", false},
}

// sessionEnders are the routes that end the caller's session: tried last.
var sessionEnders = map[string]bool{"/logout": true, "/api/v1/auth/logout": true}

// Every route, in every role, gets a corpus of hostile paths, queries,
// JSON and form bodies and headers: no answer may be a 5xx, nothing may
// panic, what carries hostile bytes is refused at the edge with a code and
// a message, and the business tables are unchanged afterwards. Routes that
// change state get only what the edge must refuse: an odd but clean value
// would do what the route does.
func TestHostileInputNeverReachesA5xx(t *testing.T) {
	x := newExchange(t, config.ModeLive)
	trader := x.trader()
	trader.fund("BTC", "1") // live mode: a pending deposit for the admin routes
	key := trader.apiKey("read", "trade", "withdraw")
	admin := x.admin()
	anon := x.anonymous()
	formToken := anon.formToken()
	roles := []struct {
		name string
		c    *client
		form string // the form token a form needs
	}{{"anonymous", anon, formToken}, {"trader", trader, trader.csrf}, {"api key", key, ""}, {"admin", admin, admin.csrf}}

	routes := publicRoutes(t, x)
	before := x.businessChecksum()
	tried := 0
	check := func(role, what string, st int, body []byte, mustRefuse bool) {
		t.Helper()
		if st == 0 {
			return // Go's client would not send it; nor would it reach us
		}
		tried++
		if st >= 500 {
			t.Errorf("%s %s: %d %.200s", role, what, st, body)
		}
		if mustRefuse && (st < 400 || st >= 500 || !bytes.Contains(body, []byte(`"code"`)) || !bytes.Contains(body, []byte(`"message"`))) {
			t.Errorf("%s %s: %d %.200s; want a 4xx with a code and a message", role, what, st, body)
		}
	}
	for _, last := range []bool{false, true} {
		for _, r := range routes {
			if r.path == "/api/v1/ws" || sessionEnders[r.path] != last {
				continue
			}
			write := r.method != http.MethodGet && r.method != http.MethodHead
			for _, role := range roles {
				// Path parameters.
				if strings.Contains(r.path, ":") || strings.Contains(r.path, "*") {
					for _, v := range hostilePathValues {
						p := paramValue.ReplaceAllString(strings.Replace(r.path, "*", v, 1), v)
						st, body := role.c.raw(r.method, p, "", nil)
						check(role.name, r.method+" "+p, st, body, unprintable.MatchString(v))
					}
				}
				p := paramValue.ReplaceAllString(strings.Replace(r.path, "*", "app.css", 1), "1")
				for _, q := range hostileQueries {
					if write && !q.refuse {
						continue
					}
					st, body := role.c.raw(r.method, p+"?"+q.v, "", nil)
					check(role.name, r.method+" "+p+"?"+q.v, st, body, q.refuse)
				}
				if !write {
					continue
				}
				for _, b := range hostileJSON {
					if !b.refuse {
						continue
					}
					st, body := role.c.raw(r.method, p, b.v, map[string]string{"Content-Type": "application/json"})
					check(role.name, fmt.Sprintf("%s %s JSON %.40q", r.method, p, b.v), st, body, true)
				}
				for _, f := range hostileForms {
					if !f.refuse {
						continue
					}
					form := f.v
					if role.form != "" {
						form += "&csrf_token=" + url.QueryEscape(role.form)
					}
					st, body := role.c.raw(r.method, p, form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
					check(role.name, fmt.Sprintf("%s %s form %.40q", r.method, p, form), st, body, true)
				}
				for _, h := range []map[string]string{
					{"Content-Type": "application/json; charset=latin1"},
					{"Content-Type": "application/x-www-form-urlencoded; charset=iso-8859-1"},
					{"Content-Type": "multipart/form-data; boundary=x"},
					{"Content-Type": "application/json; charset"},
				} {
					st, body := role.c.raw(r.method, p, `{"asset":"BTC","amount":"1"}`, h)
					check(role.name, fmt.Sprintf("%s %s with %v", r.method, p, h), st, body, true)
				}
				st, body := role.c.raw(r.method, p, strings.Repeat("a", 70<<10), map[string]string{"Content-Type": "application/json"})
				check(role.name, r.method+" "+p+" with a 70 KiB body", st, body, true)
			}
		}
		if !last {
			// The odd but clean bodies, where they are read and refused
			// by the rules (never by a fault).
			for _, b := range hostileJSON {
				for _, p := range []string{"/api/v1/deposits", "/api/v1/withdrawals", "/api/v1/orders", "/api/v1/auth/register"} {
					st, body := trader.raw("POST", p, b.v, map[string]string{"Content-Type": "application/json"})
					check("trader", fmt.Sprintf("POST %s JSON %.40q", p, b.v), st, body, true)
				}
			}
			// The forms that read amounts as people type them (thousands
			// separators), and cancel-all, which has nothing to cancel here.
			for _, f := range hostileForms {
				for _, p := range []string{"/wallet/withdrawals", "/wallet/deposits", "/markets/BTC-USDT/orders", "/markets/BTC-USDT/orders/cancel-all"} {
					st, body := trader.raw("POST", p, f.v+"&csrf_token="+url.QueryEscape(trader.csrf), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
					check("trader", fmt.Sprintf("POST %s form %.40q", p, f.v), st, body, f.refuse)
				}
			}
		}
	}
	// Headers the server reads itself.
	for _, h := range []map[string]string{
		{"X-Request-Id": "abc def"}, {"X-Request-Id": strings.Repeat("x", 500)}, {"X-Request-Id": "<script>"},
		{"EX-KEY": "ak_\xff\xfe", "EX-TIMESTAMP": strconv.FormatInt(time.Now().Unix(), 10), "EX-SIGNATURE": strings.Repeat("0", 64)},
		{"EX-KEY": "'; DROP TABLE api_keys; --", "EX-TIMESTAMP": "1", "EX-SIGNATURE": "zz"},
		{"EX-KEY": key.key, "EX-TIMESTAMP": "99999999999999999999999", "EX-SIGNATURE": hex.EncodeToString(make([]byte, 32))},
		{"Cookie": "exchange_session=\xff\xfe; exchange_device=%00"},
		{"X-CSRF-Token": "\xff"},
	} {
		for _, p := range []string{"/api/v1/balances", "/api/v1/ws", "/wallet"} {
			st, body, rh := anon.rawFull("GET", p, "", h)
			check("anonymous", fmt.Sprintf("GET %s with %q", p, h), st, body, false)
			if id := rh.Get("X-Request-Id"); st != 0 && !safeID.MatchString(id) {
				t.Errorf("unsafe X-Request-Id echoed: %q", id)
			}
		}
	}
	if after := x.businessChecksum(); after != before {
		t.Errorf("hostile requests changed the business tables:\nbefore %s\nafter  %s", before, after)
	}
	logs := x.logs.String()
	if strings.Contains(logs, "panic") || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("hostile input caused a panic or an error log:\n%.2000s", logs)
	}
	t.Logf("hostile requests tried: %d, over %d routes and %d roles; 5xx seen: none", tried, len(routes), len(roles))
}

var (
	paramValue = regexp.MustCompile(`:\w+`)
	safeID     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

type route struct{ method, path string }

// publicRoutes lists every route the public listener serves (the JSON
// API, the pages and static files), and checks the API's against the
// OpenAPI document, so the corpus covers the documented contract.
func publicRoutes(t *testing.T, x *exchange) []route {
	t.Helper()
	raw, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	var out []route
	served := map[string]bool{}
	for _, r := range x.srv.Routes() {
		if r.Method == "echo_route_not_found" || r.Method == "RouteNotFound" {
			continue
		}
		out = append(out, route{r.Method, r.Path})
		served[strings.ToLower(r.Method)+" "+paramValue.ReplaceAllStringFunc(r.Path, func(p string) string { return "{" + p[1:] + "}" })] = true
	}
	for path, ops := range spec.Paths {
		for m := range ops {
			if m != "parameters" && !served[m+" "+path] {
				t.Errorf("the OpenAPI document's %s %s is not served", m, path)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// raw sends body as given, with c's credentials (a session's CSRF header,
// or an API key's signature over exactly these bytes).
func (c *client) raw(method, path, body string, headers map[string]string) (int, []byte) {
	st, b, _ := c.rawFull(method, path, body, headers)
	return st, b
}

func (c *client) rawFull(method, path, body string, headers map[string]string) (int, []byte, http.Header) {
	c.x.t.Helper()
	req, err := http.NewRequest(method, c.x.url+path, strings.NewReader(body))
	if err != nil {
		// A path Go's client will not even send is no test of the server.
		c.x.t.Fatalf("build %s %q: %v", method, path, err)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.key != "" {
		// A signature is accepted once: a repeated request is refused
		// (401), which is an answer like any other here.
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("EX-KEY", c.key)
		req.Header.Set("EX-TIMESTAMP", ts)
		req.Header.Set("EX-SIGNATURE", hex.EncodeToString(auth.Sign(c.secret, ts, method, req.URL.RequestURI(), []byte(body))))
	}
	for k, v := range headers {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	hc := &http.Client{Jar: c.http.Jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out, res.Header
}

// formToken fetches the login page's form token for an anonymous visitor.
func (c *client) formToken() string {
	c.x.t.Helper()
	st, body := c.raw("GET", "/login", "", nil)
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(body)
	if st != 200 || m == nil {
		c.x.t.Fatalf("no form token on /login: %d", st)
	}
	return string(m[1])
}

// businessChecksum digests the tables that hold money, orders and access.
func (x *exchange) businessChecksum() string {
	x.t.Helper()
	var sum string
	err := x.db.Raw(`SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
		SELECT 'u' || id || email || password_hash || status || totp_enabled AS t FROM users UNION ALL
		SELECT 'b' || account_id || asset || available || held FROM balances UNION ALL
		SELECT 'j' || count(*) FROM journal_legs UNION ALL
		SELECT 'o' || count(*) FROM orders UNION ALL SELECT 't' || count(*) FROM trades UNION ALL
		SELECT 'd' || id || status FROM deposits UNION ALL SELECT 'w' || id || status FROM withdrawals UNION ALL
		SELECT 'k' || id || coalesce(revoked_at::text, '') FROM api_keys UNION ALL
		SELECT 'a' || count(*) FROM admin_audit UNION ALL SELECT 'm' || name || status FROM markets) s`).Row().Scan(&sum)
	if err != nil {
		x.t.Fatal(err)
	}
	return sum
}
