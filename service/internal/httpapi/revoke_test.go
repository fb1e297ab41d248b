package httpapi_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

// stream is an authenticated socket subscribed to the private channels,
// watched for the moment it closes.
type stream struct {
	name   string
	w      *wsConn
	closed chan struct{}
	at     time.Time
	err    error
}

// sessionHeader is the upgrade's cookies for c's session (cookies are
// per host, not per port: they go to every replica on 127.0.0.1).
func (c *client) sessionHeader() http.Header {
	u, _ := http.NewRequest("GET", c.x.url, nil)
	h := http.Header{}
	for _, ck := range c.http.Jar.Cookies(u.URL) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return h
}

// keyHeader signs an upgrade with c's API key; the path carries a nonce,
// as a signature is accepted once.
func (c *client) keyHeader() http.Header {
	path := "/api/v1/ws?nonce=" + strconv.FormatInt(c.x.nonce.Add(1), 10)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return http.Header{"EX-KEY": {c.key}, "EX-TIMESTAMP": {ts}, "X-Test-Path": {path},
		"EX-SIGNATURE": {hex.EncodeToString(auth.Sign(c.secret, ts, "GET", path, nil))}}
}

func (x *exchange) openStream(name string, h http.Header) *stream {
	x.t.Helper()
	if h.Get("Cookie") != "" {
		h.Set("Origin", x.url) // as the browser on the replica's own page
	}
	path := "/api/v1/ws"
	if p := h.Get("X-Test-Path"); p != "" {
		path = p
		h.Del("X-Test-Path")
	}
	s := &stream{name: name, w: x.dialWSPath(path, h), closed: make(chan struct{})}
	s.w.send("subscribe", "orders", "balances")
	s.w.next("subscribed", "")
	go func() {
		for {
			if _, _, err := s.w.c.Read(context.Background()); err != nil {
				s.at, s.err = time.Now(), err
				close(s.closed)
				return
			}
		}
	}()
	return s
}

// A private stream ends when the access it was opened with ends, on every
// replica, within two seconds: logout, key revocation, password change and
// an admin's freeze. Streams the change does not concern stay open.
func TestStreamsEndWhenAccessEnds(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	y := x.join()
	admin := x.admin()
	var worst time.Duration
	var mu sync.Mutex

	type cause struct {
		name string
		// run opens streams on both replicas, ends some access, and says
		// which streams must close and which must stay.
		run func(t *testing.T) (end func(), closes, stays []*stream)
	}
	causes := []cause{
		{"logout", func(t *testing.T) (func(), []*stream, []*stream) {
			a := x.trader()
			b := x.anonymous()
			b.login("trader"+strconv.FormatInt(x.users.Load(), 10)+"@example.com", testPassword)
			key := a.apiKey("read")
			closes := []*stream{x.openStream("session on x", a.sessionHeader()), y.openStream("session on y", a.sessionHeader())}
			stays := []*stream{x.openStream("other session", b.sessionHeader()), y.openStream("key", key.keyHeader())}
			return func() { a.mustJSON("POST", "/api/v1/auth/logout", nil, 204, nil) }, closes, stays
		}},
		{"key revocation", func(t *testing.T) (func(), []*stream, []*stream) {
			a := x.trader()
			k1, k2 := a.apiKey("read"), a.apiKey("read")
			closes := []*stream{x.openStream("key on x", k1.keyHeader()), y.openStream("key on y", k1.keyHeader())}
			stays := []*stream{x.openStream("other key", k2.keyHeader()), y.openStream("session", a.sessionHeader())}
			return func() { a.mustJSON("DELETE", "/api/v1/api-keys/"+k1.key, nil, 204, nil) }, closes, stays
		}},
		{"password change", func(t *testing.T) (func(), []*stream, []*stream) {
			a := x.trader()
			b := x.anonymous()
			b.login("trader"+strconv.FormatInt(x.users.Load(), 10)+"@example.com", testPassword)
			key := a.apiKey("read")
			closes := []*stream{x.openStream("other session on x", b.sessionHeader()), y.openStream("other session on y", b.sessionHeader()),
				y.openStream("key", key.keyHeader())}
			stays := []*stream{y.openStream("the changing session", a.sessionHeader())}
			return func() {
				a.mustJSON("POST", "/api/v1/auth/password", map[string]string{"current_password": testPassword, "new_password": "a whole new password"}, 204, nil)
			}, closes, stays
		}},
		{"one session revoked from the account page", func(t *testing.T) (func(), []*stream, []*stream) {
			a := x.trader()
			b := x.anonymous()
			b.login("trader"+strconv.FormatInt(x.users.Load(), 10)+"@example.com", testPassword)
			key := a.apiKey("read")
			id := otherSessionID(t, a)
			closes := []*stream{x.openStream("revoked session on x", b.sessionHeader()), y.openStream("revoked session on y", b.sessionHeader())}
			stays := []*stream{y.openStream("the revoking session", a.sessionHeader()), x.openStream("key", key.keyHeader())}
			return func() { a.mustJSON("DELETE", "/api/v1/sessions/"+id, nil, 204, nil) }, closes, stays
		}},
		{"sign out everywhere else", func(t *testing.T) (func(), []*stream, []*stream) {
			a := x.trader()
			email := "trader" + strconv.FormatInt(x.users.Load(), 10) + "@example.com"
			b, c := x.anonymous(), x.anonymous()
			b.login(email, testPassword)
			c.login(email, testPassword)
			key := a.apiKey("read")
			closes := []*stream{x.openStream("second session", b.sessionHeader()), y.openStream("third session", c.sessionHeader())}
			stays := []*stream{y.openStream("the signing-out session", a.sessionHeader()), x.openStream("key", key.keyHeader())}
			return func() { a.mustJSON("DELETE", "/api/v1/sessions", nil, 200, nil) }, closes, stays
		}},
		{"admin freeze", func(t *testing.T) (func(), []*stream, []*stream) {
			a, other := x.trader(), x.trader()
			key := a.apiKey("read")
			closes := []*stream{x.openStream("session on x", a.sessionHeader()), y.openStream("session on y", a.sessionHeader()),
				x.openStream("key on x", key.keyHeader())}
			stays := []*stream{y.openStream("another user", other.sessionHeader())}
			return func() { admin.mustJSON("POST", "/api/v1/admin/users/"+a.userID+"/freeze", nil, 200, nil) }, closes, stays
		}},
	}
	for _, c := range causes {
		t.Run(c.name, func(t *testing.T) {
			end, closes, stays := c.run(t)
			start := time.Now()
			end()
			for _, s := range closes {
				select {
				case <-s.closed:
				case <-time.After(2 * time.Second):
					t.Fatalf("%s: %s still open 2 s after the change", c.name, s.name)
				}
				var ce websocket.CloseError
				if !errors.As(s.err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "access ended") {
					t.Errorf("%s: %s closed with %v, want 1008 access ended", c.name, s.name, s.err)
				}
				took := s.at.Sub(start)
				mu.Lock()
				worst = max(worst, took)
				mu.Unlock()
				t.Logf("%s: %s closed %v after the change", c.name, s.name, took.Round(time.Millisecond))
			}
			for _, s := range stays {
				select {
				case <-s.closed:
					t.Errorf("%s: %s closed, but the change does not concern it: %v", c.name, s.name, s.err)
				default:
				}
			}
		})
	}
	t.Logf("slowest stream to close after its access ended: %v", worst.Round(time.Millisecond))
}

// A socket whose upgrade races a revocation is closed too: the stream
// checks its credential once more after it is registered.
func TestStreamsOpenedDuringARevocationEnd(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	a := x.trader()
	for round := range 8 {
		key := a.apiKey("read")
		var opened []*stream
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				h := key.keyHeader()
				path := h.Get("X-Test-Path")
				h.Del("X-Test-Path")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c, _, err := websocket.Dial(ctx, strings.Replace(x.url, "http", "ws", 1)+path, &websocket.DialOptions{HTTPHeader: h})
				if err != nil {
					return // refused at the upgrade: the key was already revoked
				}
				t.Cleanup(func() { c.CloseNow() })
				s := &stream{name: "racing socket", w: &wsConn{t: t, c: c}, closed: make(chan struct{})}
				go func() {
					for {
						if _, _, err := c.Read(context.Background()); err != nil {
							s.err = err
							close(s.closed)
							return
						}
					}
				}()
				mu.Lock()
				opened = append(opened, s)
				mu.Unlock()
			})
		}
		a.mustJSON("DELETE", "/api/v1/api-keys/"+key.key, nil, 204, nil)
		wg.Wait()
		for _, s := range opened {
			select {
			case <-s.closed:
			case <-time.After(2 * time.Second):
				t.Fatalf("round %d: a socket opened while its key was revoked is still open", round)
			}
		}
	}
}

// One message naming a channel many times costs one subscription and
// one snapshot; a message may name twenty channels at most.
func TestSubscribeAmplification(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	w := x.dialWS(nil)
	channels := make([]string, 220)
	for i := range channels {
		channels[i] = "book:BTC-USDT"
	}
	w.send("subscribe", channels[:20]...)
	w.next("snapshot", "book:BTC-USDT")
	if m := w.next("subscribed", ""); len(m.Channels) != 1 {
		t.Fatalf("twenty copies of one channel subscribed as %v", m.Channels)
	}
	w.send("subscribe", "book:BTC-USDT") // already subscribed: no second snapshot
	if m := w.any(); m.Type != "subscribed" || len(m.Channels) != 1 {
		t.Fatalf("resubscribing answered %+v first, want subscribed and no snapshot", m)
	}
	w.send("subscribe", channels...)
	if e := w.next("error", ""); e.Code != "too_many_subscriptions" {
		t.Fatalf("220 channels in one message: %+v", e)
	}
	w.send("subscribe", "trades:BTC-USDT")
	if m := w.next("subscribed", ""); len(m.Channels) != 1 || m.Channels[0] != "trades:BTC-USDT" {
		t.Fatalf("after the refusal: %+v", m)
	}
}
