package httpapi_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/httpserver"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/logtest"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/replica/replicatest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testPassword = "correct horse battery staple"

var secretKey = []byte("test-secret-key-0123456789abcdef0123456789")

// exchange is a real server on a real, fresh database.
type exchange struct {
	t   *testing.T
	db  *gorm.DB
	srv *httpserver.Server
	url string
	// internalURL is the internal listener: metrics.
	internalURL string
	// users and nonce count across every replica of one database.
	users *atomic.Int64
	nonce *atomic.Int64
	logs  *logtest.Buffer
	// replica is what join starts more replicas of.
	replica *replicatest.Exchange
}

func newExchange(t *testing.T, mode config.Mode, opts ...func(*config.Server)) *exchange {
	t.Helper()
	r := replicatest.Start(t, mode, secretKey, opts...)
	return &exchange{t: t, db: r.DB, srv: r.Server, url: r.URL, internalURL: r.InternalURL, logs: r.Logs, replica: r,
		users: new(atomic.Int64), nonce: new(atomic.Int64)}
}

// join starts a second replica on x's database: the returned exchange
// shares x's users and counters, and talks to the other replica.
func (x *exchange) join() *exchange {
	x.t.Helper()
	r := x.replica.Join(x.t)
	return &exchange{t: x.t, db: x.db, srv: r.Server, url: r.URL, internalURL: r.InternalURL, logs: r.Logs, replica: r,
		users: x.users, nonce: x.nonce}
}

// client is one browser (cookie jar + CSRF token) or one API-key bot.
type client struct {
	x      *exchange
	http   *http.Client
	csrf   string
	userID string
	key    string
	secret string
}

func (x *exchange) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{x: x, http: &http.Client{Jar: jar, Timeout: time.Minute}}
}

// trader registers a new user and logs in.
func (x *exchange) trader() *client {
	email := fmt.Sprintf("trader%d@example.com", x.users.Add(1))
	c := x.anonymous()
	c.mustJSON("POST", "/api/v1/auth/register", map[string]string{"email": email, "password": testPassword}, 201, nil)
	c.login(email, testPassword)
	return c
}

// admin creates an admin directly (as `exchange create-admin` would) and logs in.
func (x *exchange) admin() *client {
	a, _ := auth.New(x.db, nil, time.Now)
	email := fmt.Sprintf("admin%d@example.com", x.users.Add(1))
	if _, err := a.Register(context.Background(), email, testPassword, auth.RoleAdmin); err != nil {
		x.t.Fatal(err)
	}
	c := x.anonymous()
	c.login(email, testPassword)
	return c
}

func (c *client) login(email, password string) {
	var out struct {
		User      struct{ ID string }
		CSRFToken string `json:"csrf_token"`
	}
	c.mustJSON("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, 200, &out)
	c.csrf, c.userID = out.CSRFToken, out.User.ID
}

// apiKey creates a key with scopes and returns a client that signs with it.
func (c *client) apiKey(scopes ...string) *client {
	var out struct {
		KeyID  string `json:"key_id"`
		Secret string `json:"secret"`
	}
	c.mustJSON("POST", "/api/v1/api-keys", map[string]any{"label": "bot", "scopes": scopes}, 201, &out)
	return &client{x: c.x, http: &http.Client{Timeout: time.Minute}, key: out.KeyID, secret: out.Secret, userID: c.userID}
}

// do sends body (nil, a raw string, or a value to marshal) and returns the
// status and response body.
func (c *client) do(method, path string, body any) (int, []byte) {
	c.x.t.Helper()
	return c.doWithHeaders(method, path, body, nil)
}

func (c *client) doWithHeaders(method, path string, body any, headers map[string]string) (int, []byte) {
	c.x.t.Helper()
	status, out, _ := c.doFull(method, path, body, headers)
	return status, out
}

// doFull is doWithHeaders that also returns the response headers.
func (c *client) doFull(method, path string, body any, headers map[string]string) (int, []byte, http.Header) {
	c.x.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	if c.key != "" {
		// A signature is accepted once and covers the query, so a bot that
		// repeats a request within a second varies it with a nonce.
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "nonce=" + strconv.FormatInt(c.x.nonce.Add(1), 10)
	}
	req, err := http.NewRequest(method, c.x.url+path, bytes.NewReader(raw))
	if err != nil {
		c.x.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.key != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("EX-KEY", c.key)
		req.Header.Set("EX-TIMESTAMP", ts)
		req.Header.Set("EX-SIGNATURE", hex.EncodeToString(auth.Sign(c.secret, ts, method, path, raw)))
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.x.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out, res.Header
}

// errorCode is the contract error's code in body, or "".
func errorCode(body []byte) string {
	var e struct{ Error struct{ Code string } }
	json.Unmarshal(body, &e)
	return e.Error.Code
}

// mustJSON asserts the status and decodes the response into out (if not nil).
func (c *client) mustJSON(method, path string, body any, want int, out any) {
	c.x.t.Helper()
	status, raw := c.do(method, path, body)
	if status != want {
		c.x.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.x.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

// wantError asserts a contract error with the given status and code.
func (c *client) wantError(method, path string, body any, status int, code string) string {
	c.x.t.Helper()
	got, raw := c.do(method, path, body)
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(raw, &e); err != nil || got != status || e.Error.Code != code || e.Error.Message == "" {
		c.x.t.Fatalf("%s %s: got %d %s, want %d with code %q and a message", method, path, got, raw, status, code)
	}
	return e.Error.Message
}

func (c *client) balance(asset string) (available, held string) {
	c.x.t.Helper()
	var bs []struct{ Asset, Available, Held string }
	c.mustJSON("GET", "/api/v1/balances", nil, 200, &bs)
	for _, b := range bs {
		if b.Asset == asset {
			return b.Available, b.Held
		}
	}
	c.x.t.Fatalf("no %s balance in %+v", asset, bs)
	return "", ""
}

// metrics scrapes the internal listener's /metrics.
func (x *exchange) metrics() (int, []byte) {
	x.t.Helper()
	res, err := http.Get(x.internalURL + "/metrics")
	if err != nil {
		x.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// checkLedger fails the test if any ledger invariant is violated.
func (x *exchange) checkLedger() {
	x.t.Helper()
	v, err := ledger.Check(context.Background(), x.db)
	if err != nil {
		x.t.Fatal(err)
	}
	if len(v) > 0 {
		var b strings.Builder
		ledger.WriteReport(&b, v)
		x.t.Fatalf("ledger invariants violated:\n%s", b.String())
	}
}
