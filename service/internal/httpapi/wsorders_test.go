package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/ratelimit"
)

// wsResult is an order-entry answer.
type wsResult struct {
	Type    string
	Op      string
	ID      string
	Status  int
	Order   json.RawMessage
	Results []struct {
		Status int
		Error  *struct{ Code, Message string }
	}
	Cancelled          []json.RawMessage
	CancelOnDisconnect *bool `json:"cancel_on_disconnect"`
	Error              *struct{ Code, Message string }
	Code               string // of a type "error" message
}

// orderSocket opens c's socket: signed with its API key, or with its
// session cookie.
func (c *client) orderSocket() *wsConn {
	c.x.t.Helper()
	if c.key != "" {
		h := c.keyHeader()
		path := h.Get("X-Test-Path")
		h.Del("X-Test-Path")
		return c.x.dialWSPath(path, h)
	}
	u, _ := http.NewRequest("GET", c.x.url, nil)
	h := http.Header{"Origin": {c.x.url}}
	for _, ck := range c.http.Jar.Cookies(u.URL) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	return c.x.dialWS(h)
}

func (w *wsConn) write(msg string) {
	w.t.Helper()
	if err := w.c.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		w.t.Fatal(err)
	}
}

// result reads until the answer to the command id (any answer when id
// is "", for commands whose id is refused).
func (w *wsConn) result(id string) wsResult {
	w.t.Helper()
	var r wsResult
	w.until("the answer to "+strconv.Quote(id), func(data []byte) bool {
		r = wsResult{}
		return json.Unmarshal(data, &r) == nil && (r.Type == "result" && r.ID == id || id == "" && (r.Type == "result" || r.Type == "error"))
	})
	return r
}

// call sends one command and waits for its answer.
func (w *wsConn) call(id string, cmd map[string]any) wsResult {
	w.t.Helper()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	w.write(string(b))
	return w.result(id)
}

func (r wsResult) code() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

// sameOrder compares an order as the socket answered it with the order
// as GET /api/v1/orders/:id shows it.
func sameOrder(t *testing.T, c *client, ws json.RawMessage) orderJSON {
	t.Helper()
	var o orderJSON
	if err := json.Unmarshal(ws, &o); err != nil {
		t.Fatalf("order %s: %v", ws, err)
	}
	_, rest := c.do("GET", "/api/v1/orders/"+o.ID, nil)
	var a, b any
	json.Unmarshal(ws, &a)
	json.Unmarshal(rest, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("the socket answered\n%s\nREST shows\n%s", ws, rest)
	}
	return o
}

// Order entry on the socket answers what the REST calls answer: the same
// statuses, codes and messages, the same order bodies.
func TestWebSocketOrderEntryAnswersAsREST(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	a := x.trader()
	a.fund("USDT", "1000")
	bot := a.apiKey("read", "trade")
	w := bot.orderSocket()

	buy := map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "client_order_id": "ws-a"}
	r := w.call("p1", map[string]any{"op": "place", "order": buy})
	if r.Type != "result" || r.Op != "place" || r.Status != 201 {
		t.Fatalf("place: %+v", r)
	}
	placed := sameOrder(t, bot, r.Order)
	if placed.Status != "open" {
		t.Fatalf("placed order: %+v", placed)
	}
	// A repeated client_order_id answers the original order with 200, as REST does.
	if r := w.call("p2", map[string]any{"op": "place", "order": buy}); r.Status != 200 || !bytes.Equal(r.Order, mustOrderBytes(t, bot, placed.ID)) {
		t.Fatalf("repeated client_order_id: %+v", r)
	}

	// Refusals: each body goes once over REST and once over the socket.
	refused := []map[string]any{
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100.0000001", "quantity": "1"},
		{"market": "NOPE-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1"},
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1000"},
		{"market": "ETH-USDT", "side": "up", "type": "limit", "price": "100", "quantity": "1"},
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": 100, "quantity": "1"},
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "Quantity": "2"},
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "leverage": "10"},
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "client_order_id": "bad\u0000id"},
	}
	for i, body := range refused {
		status, raw := bot.do("POST", "/api/v1/orders", body)
		var rest struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(raw, &rest)
		r := w.call(fmt.Sprintf("r%d", i), map[string]any{"op": "place", "order": body})
		if status/100 != 4 || r.Status != status || r.Error == nil || *r.Error != rest.Error {
			t.Errorf("%v: REST %d %s, socket %+v", body, status, raw, r)
		}
	}

	// A batch answers item by item as POST /api/v1/orders/batch does, and
	// refuses a malformed one whole, with the same message.
	batch := []map[string]any{
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "1", "quantity": "1"},
		{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "1.0000001", "quantity": "1"},
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "1", "quantity": "100000"},
	}
	var restBatch struct {
		Results []struct {
			Status int
			Error  *struct{ Code, Message string }
		}
	}
	bot.mustJSON("POST", "/api/v1/orders/batch", map[string]any{"orders": batch}, 200, &restBatch)
	r = w.call("b1", map[string]any{"op": "place_batch", "orders": batch})
	if r.Status != 200 || len(r.Results) != 3 {
		t.Fatalf("place_batch: %+v", r)
	}
	for i := range batch {
		got, want := r.Results[i], restBatch.Results[i]
		// Messages may name the balance, which the REST batch changed.
		if got.Status != want.Status || (got.Error == nil) != (want.Error == nil) || got.Error != nil && got.Error.Code != want.Error.Code {
			t.Errorf("batch item %d: socket %+v, REST %+v", i, got, want)
		}
	}
	malformed := []map[string]any{batch[0], {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": 1, "quantity": "1"}}
	status, raw := bot.do("POST", "/api/v1/orders/batch", map[string]any{"orders": malformed})
	var restErr struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(raw, &restErr)
	if r := w.call("b2", map[string]any{"op": "place_batch", "orders": malformed}); r.Status != status || r.Error == nil || *r.Error != restErr.Error {
		t.Fatalf("malformed batch: REST %d %s, socket %+v", status, raw, r)
	}
	if r := w.call("b3", map[string]any{"op": "place_batch", "orders": []any{}}); r.Status != 400 || r.code() != "invalid_request" {
		t.Fatalf("empty batch: %+v", r)
	}
	w.call("b4", map[string]any{"op": "cancel_all", "market": "BTC-USDT"})

	r = w.call("c1", map[string]any{"op": "cancel", "order_id": placed.ID})
	if got := sameOrder(t, bot, r.Order); r.Status != 200 || got.Status != "cancelled" {
		t.Fatalf("cancel: %+v", r)
	}
	status, raw = bot.do("DELETE", "/api/v1/orders/"+placed.ID, nil)
	r = w.call("c2", map[string]any{"op": "cancel", "order_id": placed.ID})
	if status != 409 || r.Status != 409 || r.code() != "order_not_open" || r.code() != errorCode(raw) {
		t.Fatalf("cancel twice: REST %d %s, socket %+v", status, raw, r)
	}
	for _, id := range []string{"0", "-1", "x", "99999999"} {
		status, raw := bot.do("DELETE", "/api/v1/orders/"+id, nil)
		r := w.call("c3", map[string]any{"op": "cancel", "order_id": id})
		if r.Status != status || r.code() != errorCode(raw) {
			t.Errorf("cancel %q: REST %d %s, socket %+v", id, status, raw, r)
		}
	}

	for i := range 3 {
		w.call(fmt.Sprintf("rest%d", i), map[string]any{"op": "place", "order": map[string]any{
			"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "1"}})
	}
	r = w.call("all", map[string]any{"op": "cancel_all", "market": "ETH-USDT"})
	if r.Status != 200 || len(r.Cancelled) != 3 {
		t.Fatalf("cancel_all: %+v", r)
	}
	status, raw = bot.do("DELETE", "/api/v1/orders?market=NOPE-USDT", nil)
	if r := w.call("all2", map[string]any{"op": "cancel_all", "market": "NOPE-USDT"}); status/100 != 4 || r.Status != status || r.code() != errorCode(raw) {
		t.Fatalf("cancel_all in an unknown market: REST %d %s, socket %+v", status, raw, r)
	}
	if avail, held := a.balance("USDT"); avail != "1000" || held != "0" {
		t.Fatalf("USDT after every order was cancelled: %s available, %s held", avail, held)
	}
	x.checkLedger()
}

func mustOrderBytes(t *testing.T, c *client, id string) []byte {
	t.Helper()
	status, raw := c.do("GET", "/api/v1/orders/"+id, nil)
	if status != 200 {
		t.Fatalf("GET order %s: %d %s", id, status, raw)
	}
	return bytes.TrimSpace(raw)
}

// Commands the socket refuses change nothing and still answer with a
// code and a message.
func TestWebSocketOrderEntryRefusals(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	a := x.trader()
	a.fund("USDT", "1000")
	order := map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1"}

	reader := a.apiKey("read").orderSocket()
	if r := reader.call("p", map[string]any{"op": "place", "order": order}); r.Status != 403 || r.code() != "forbidden" {
		t.Fatalf("a read-only key placed: %+v", r)
	}
	anonymous := x.dialWS(nil)
	anonymous.write(`{"op":"place","id":"p","order":{}}`)
	if r := anonymous.result(""); r.Type != "error" || r.Code != "invalid_op" {
		t.Fatalf("an anonymous socket placed: %+v", r)
	}

	w := a.orderSocket() // the browser's session works too
	for _, msg := range []string{
		`{"op":"place","order":{"market":"ETH-USDT","side":"buy","type":"limit","price":"100","quantity":"1"}}`,
		`{"op":"place","id":"` + strings.Repeat("x", 65) + `","order":{"market":"ETH-USDT","side":"buy","type":"limit","price":"100","quantity":"1"}}`,
		`{"op":"place","id":"a b","order":{}}`,
		`{"op":"launch","id":"l"}`,
	} {
		w.write(msg)
		if r := w.result(""); r.Status != 400 || r.code() != "invalid_request" {
			t.Errorf("%s: %+v", msg, r)
		}
	}
	for msg, code := range map[string]string{
		`{"op":"place","id":"u","order":{"market":"ETH-USDT"},"extra":1}`: "unknown_field",
		`{"op":"place","id":"u","id":"v","order":{}}`:                     "invalid_json",
		`{"op":"cancel","id":"u","order_id":12}`:                          "invalid_request",
		`{"op":"cancel_on_disconnect","id":"u","enabled":"yes"}`:          "invalid_request",
		`{"op":"cancel_all","id":"u","market":"\u0000"}`:                  "invalid_input",
	} {
		w.write(msg)
		if r := w.result(""); r.Status != 400 || r.code() != code {
			t.Errorf("%s: want %s, got %+v", msg, code, r)
		}
	}
	var count int64
	x.db.Raw("SELECT count(*) FROM orders").Scan(&count)
	if count != 0 {
		t.Fatalf("%d orders exist after only refused commands", count)
	}
}

// Pipelined commands on one socket hold the balance: with money for ten
// orders, forty sent at once leave ten placed and thirty refused.
func TestWebSocketOrderEntryInParallel(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	a := x.trader()
	a.fund("USDT", "1000")
	w := a.apiKey("read", "trade").orderSocket()
	const n = 40
	var msgs bytes.Buffer
	for i := range n {
		msgs.Reset()
		fmt.Fprintf(&msgs, `{"op":"place","id":"o%d","order":{"market":"ETH-USDT","side":"buy","type":"limit","price":"100","quantity":"1"}}`, i)
		w.write(msgs.String())
	}
	statuses := map[int]int{}
	seen := map[string]bool{}
	for len(seen) < n {
		r := w.result("")
		if r.Type != "result" || seen[r.ID] {
			t.Fatalf("unexpected message %+v", r)
		}
		seen[r.ID] = true
		statuses[r.Status]++
		if r.Status != 201 && r.code() != "insufficient_funds" {
			t.Fatalf("refused for %+v", r.Error)
		}
	}
	if statuses[201] != 10 || statuses[400] != 30 {
		t.Fatalf("statuses %v, want 10 placed and 30 refused", statuses)
	}
	if avail, held := a.balance("USDT"); avail != "0" || held != "1000" {
		t.Fatalf("USDT: %s available, %s held", avail, held)
	}
	x.checkLedger()
}

// The per-user order budget holds on the socket as over HTTP: a burst
// beyond it is refused with 429, whichever way the orders come. Refilled
// at 50 a minute rather than the default 50 a second, as in
// TestOrderEntryIsRateLimited: a stall of the server while it reads the
// burst must not refill it.
func TestWebSocketOrderEntryRateLimited(t *testing.T) {
	rule := ratelimit.Rule{Limit: 50, Period: time.Minute, Burst: 50}
	x := newExchange(t, config.ModeDemo, withLimits, func(c *config.Server) { c.RateLimits[ratelimit.Orders][ratelimit.ByUser] = rule })
	start := time.Now()
	a := x.trader()
	a.fund("USDT", "100000")
	bot := a.apiKey("read", "trade")
	socks := []*wsConn{bot.orderSocket(), bot.orderSocket()}
	const perSocket = 60
	var wg sync.WaitGroup
	counts := make([]map[int]int, len(socks))
	for i, w := range socks {
		counts[i] = map[int]int{}
		wg.Go(func() {
			for j := range perSocket {
				w.write(fmt.Sprintf(`{"op":"place","id":"o%d","order":{"market":"ETH-USDT","side":"buy","type":"limit","price":"1","quantity":"1"}}`, j))
			}
		})
	}
	wg.Wait()
	total := map[int]int{}
	for i, w := range socks {
		for range perSocket {
			r := w.result("")
			counts[i][r.Status]++
			total[r.Status]++
			if r.Status == 429 && r.code() != "too_many_requests" {
				t.Fatalf("429 with %+v", r.Error)
			}
		}
	}
	if most := allowed(rule, time.Since(start)); total[201] < rule.Burst || total[201] > most || total[429] != 2*perSocket-total[201] {
		t.Fatalf("statuses %v over two sockets: the user's order budget (%d to %d) did not hold", total, rule.Burst, most)
	}
}

// Cancel-on-disconnect cancels the owner's open orders when the socket
// ends, after the commands still running on it have been answered;
// without it, orders outlive their socket.
func TestWebSocketCancelOnDisconnect(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	a := x.trader()
	a.fund("USDT", "1000")
	bot := a.apiKey("read", "trade")
	order := map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "1"}

	keep := bot.orderSocket()
	kept := sameOrder(t, bot, keep.call("k", map[string]any{"op": "place", "order": order}).Order)
	keep.c.Close(websocket.StatusNormalClosure, "")
	time.Sleep(300 * time.Millisecond) // what a cancel would have needed
	var still orderJSON
	bot.mustJSON("GET", "/api/v1/orders/"+kept.ID, nil, 200, &still)
	if still.Status != "open" {
		t.Fatalf("the order of a socket without cancel-on-disconnect is %s once it closed", still.Status)
	}

	w := bot.orderSocket()
	if r := w.call("cod", map[string]any{"op": "cancel_on_disconnect", "enabled": true, "market": "NOPE-USDT"}); r.Status != 400 || r.code() != "unknown_market" {
		t.Fatalf("cancel on disconnect for an unknown market: %+v", r)
	}
	if r := w.call("cod", map[string]any{"op": "cancel_on_disconnect", "enabled": true}); r.Status != 200 || r.CancelOnDisconnect == nil || !*r.CancelOnDisconnect {
		t.Fatalf("cancel_on_disconnect: %+v", r)
	}
	var ids []string
	for i := range 3 {
		r := w.call(fmt.Sprintf("p%d", i), map[string]any{"op": "place", "order": order})
		ids = append(ids, sameOrder(t, bot, r.Order).ID)
	}
	// Two more sent just before the socket closes: their answers may
	// never arrive, but they must not outlive it.
	for i := range 2 {
		w.write(fmt.Sprintf(`{"op":"place","id":"late%d","order":{"market":"ETH-USDT","side":"buy","type":"limit","price":"10","quantity":"1"}}`, i))
	}
	w.c.CloseNow()

	deadline := time.Now().Add(10 * time.Second)
	for {
		var open int64
		x.db.Raw("SELECT count(*) FROM orders WHERE status IN ('open', 'partially_filled')").Scan(&open)
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d orders still open 10 s after the socket closed", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every open order of the account goes, the one placed over another
	// socket or over HTTP too: the switch is the account's.
	for _, id := range append(ids, kept.ID) {
		var o struct {
			Status       string
			CancelReason string `json:"cancel_reason"`
		}
		bot.mustJSON("GET", "/api/v1/orders/"+id, nil, 200, &o)
		if o.Status != "cancelled" || o.CancelReason != "disconnect" {
			t.Fatalf("order %s after disconnect: %+v", id, o)
		}
	}
	if avail, held := a.balance("USDT"); avail != "1000" || held != "0" {
		t.Fatalf("USDT: %s available, %s held after every order was cancelled", avail, held)
	}
	x.checkLedger()
}

// Hostile messages on the order socket: every one is answered with a
// code and a message, none with a 5xx, nothing changes, and the socket
// keeps working.
func TestWebSocketOrderEntryHostileMessages(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	a := x.trader()
	a.fund("USDT", "1000")
	w := a.apiKey("read", "trade").orderSocket()
	before := x.businessChecksum()
	var msgs []string
	for _, h := range hostileJSON {
		msgs = append(msgs, h.v,
			`{"op":"place","id":"h","order":`+h.v+`}`,
			`{"op":"cancel","id":"h","order_id":`+h.v+`}`,
			`{"op":"cancel_all","id":"h","market":`+h.v+`}`,
			`{"op":"cancel_on_disconnect","id":"h","enabled":`+h.v+`}`)
	}
	msgs = append(msgs, "\xff\xfe\x00", `{"op":"place\u0000","id":"h"}`, `{"op":["place"],"id":"h"}`, `{"op":"place","id":{"x":1}}`,
		`{"op":"cancel","id":"h","order_id":"1","order_id":"2"}`, `{"op":"place","id":"h","order":{"market":"ETH-USDT","side":"buy","type":"limit","price":"1e3","quantity":"1"}}`)
	for _, m := range msgs {
		if len(m) > 4096 {
			continue // over the message limit: see below
		}
		w.write(m)
		r := w.result("")
		refused := r.Status >= 400 && r.Error != nil && r.Error.Code != "" && r.Error.Message != ""
		// A null is a field left out, as in a request body.
		ok := r.Type == "error" && r.Code != "" || r.Type == "result" && (refused && r.Status < 500 || r.Status == 200)
		if !ok {
			t.Errorf("%q: answered %+v", m, r)
		}
	}
	if after := x.businessChecksum(); after != before {
		t.Fatal("hostile messages changed the business tables")
	}
	if r := w.call("fine", map[string]any{"op": "cancel_all"}); r.Status != 200 {
		t.Fatalf("the socket stopped working: %+v", r)
	}
	// A message over 4 KiB ends the socket with 1009, as the protocol says.
	w.write(`{"op":"place","id":"big","order":{"price":"` + strings.Repeat("9", 5000) + `"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := w.c.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Fatalf("an oversized message ended the socket with %v", err)
			}
			break
		}
	}
	if after := x.businessChecksum(); after != before {
		t.Fatal("the oversized message changed the business tables")
	}
}
