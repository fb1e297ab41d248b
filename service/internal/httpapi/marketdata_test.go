package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

type wsMsg struct {
	Type     string
	Channel  string
	Channels []string
	Code     string
	Sequence int64
	Bids     [][2]string
	Asks     [][2]string
	Data     json.RawMessage
}

type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

func (x *exchange) dialWS(header http.Header) *wsConn {
	x.t.Helper()
	return x.dialWSPath("/api/v1/ws", header)
}

func (x *exchange) dialWSPath(path string, header http.Header) *wsConn {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, strings.Replace(x.url, "http", "ws", 1)+path, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		x.t.Fatalf("dial ws: %v (%v)", err, res)
	}
	c.SetReadLimit(1 << 20)
	x.t.Cleanup(func() { c.CloseNow() })
	return &wsConn{t: x.t, c: c}
}

func (w *wsConn) send(op string, channels ...string) {
	w.t.Helper()
	b, _ := json.Marshal(map[string]any{"op": op, "channels": channels})
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatal(err)
	}
}

// any reads the next message, whatever it is.
func (w *wsConn) any() wsMsg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("waiting for a message: %v", err)
	}
	var m wsMsg
	if err := json.Unmarshal(data, &m); err != nil {
		w.t.Fatalf("bad message %s", data)
	}
	return m
}

// next reads until a message of the wanted type on the wanted channel.
func (w *wsConn) next(typ, channel string) wsMsg {
	w.t.Helper()
	var m wsMsg
	w.until(typ+" on "+channel, func(data []byte) bool {
		m = wsMsg{}
		return json.Unmarshal(data, &m) == nil && m.Type == typ && (channel == "" || m.Channel == channel)
	})
	return m
}

// until reads messages until match says one is the wanted one; what
// names it for a failure. Every message must be JSON.
func (w *wsConn) until(what string, match func(data []byte) bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		if !json.Valid(data) {
			w.t.Fatalf("bad message %s", data)
		}
		if match(data) {
			return
		}
	}
}

func TestMarketDataREST(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	maker, taker := x.trader(), x.trader()
	maker.fund("BTC", "2")
	taker.fund("USDT", "100000")
	maker.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "30001", "quantity": "0.5"})
	maker.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "30001", "quantity": "0.25"})
	maker.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "30005", "quantity": "1"})
	taker.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "29990", "quantity": "1"})
	taker.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "30001", "quantity": "0.6"})

	anon := x.anonymous()
	book := x.waitBookSequence("BTC-USDT", 5) // one per order that changed it
	wantAsks := [][2]string{{"30001", "0.15"}, {"30005", "1"}}
	if len(book.Asks) != 2 || book.Asks[0] != wantAsks[0] || book.Asks[1] != wantAsks[1] || len(book.Bids) != 1 || book.Bids[0] != [2]string{"29990", "1"} {
		t.Fatalf("book = %+v", book)
	}
	var tk map[string]any
	anon.mustJSON("GET", "/api/v1/markets/BTC-USDT/ticker", nil, 200, &tk)
	if tk["last"] != "30001" || tk["best_bid"] != "29990" || tk["best_ask"] != "30001" {
		t.Fatalf("ticker = %v", tk)
	}
	var trades []struct {
		ID, Price, Quantity string
		TakerSide           string `json:"taker_side"`
	}
	anon.mustJSON("GET", "/api/v1/markets/BTC-USDT/trades?limit=10", nil, 200, &trades)
	if len(trades) != 2 || trades[0].Quantity != "0.1" || trades[1].Quantity != "0.5" || trades[0].TakerSide != "buy" {
		t.Fatalf("trades (newest first) = %+v", trades)
	}
	var candles [][]string
	anon.mustJSON("GET", "/api/v1/markets/BTC-USDT/candles?interval=1m", nil, 200, &candles)
	if len(candles) != 1 || candles[0][1] != "30001" || candles[0][5] != "0.6" {
		t.Fatalf("candles = %v", candles)
	}
	// A window without trades has no candles at all, not flat ones.
	anon.mustJSON("GET", "/api/v1/markets/BTC-USDT/candles?interval=1h&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z", nil, 200, &candles)
	if len(candles) != 0 {
		t.Fatalf("candles for an empty window = %v", candles)
	}
	anon.wantError("GET", "/api/v1/markets/BTC-USDT/candles?interval=2m", nil, 400, "invalid_request")
	anon.wantError("GET", "/api/v1/markets/BTC-USDT/candles?interval=1m&from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z", nil, 400, "invalid_request")
	anon.wantError("GET", "/api/v1/markets/BTC-USDT/book?depth=0", nil, 400, "invalid_request")
	anon.wantError("GET", "/api/v1/markets/NOPE-USDT/ticker", nil, 400, "unknown_market")
}

func TestWebSocketStreams(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	maker, taker := x.trader(), x.trader()
	maker.fund("ETH", "10")
	taker.fund("USDT", "100000")
	maker.place(map[string]any{"market": "ETH-USDT", "side": "sell", "type": "limit", "price": "2000", "quantity": "1"})
	// The feed applies a batch's events just after the commit that the
	// order's answer waited for; subscribe once it has.
	x.waitBookSequence("ETH-USDT", 1)

	public := x.dialWS(nil)
	public.send("subscribe", "book:ETH-USDT", "trades:ETH-USDT", "ticker:ETH-USDT")
	snap := public.next("snapshot", "book:ETH-USDT")
	if len(snap.Asks) != 1 || snap.Asks[0] != [2]string{"2000", "1"} {
		t.Fatalf("snapshot = %+v", snap)
	}
	public.next("subscribed", "")
	public.send("subscribe", "orders")
	if e := public.next("error", ""); e.Code != "unauthorized" {
		t.Fatalf("anonymous private subscription: %+v", e)
	}
	public.send("subscribe", "book:NOPE")
	if e := public.next("error", ""); e.Code != "unknown_channel" {
		t.Fatalf("unknown channel: %+v", e)
	}

	// The taker's own authenticated stream, through its session cookie.
	u, _ := http.NewRequest("GET", x.url, nil)
	header := http.Header{"Origin": {x.url}}
	for _, ck := range taker.http.Jar.Cookies(u.URL) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	private := x.dialWS(header)
	private.send("subscribe", "orders", "balances")
	private.next("subscribed", "")

	taker.place(map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "2000", "quantity": "0.4", "client_order_id": "ws-1"})
	delta := public.next("delta", "book:ETH-USDT")
	if delta.Sequence != snap.Sequence+1 || len(delta.Asks) != 1 || delta.Asks[0] != [2]string{"2000", "0.6"} {
		t.Fatalf("delta = %+v after snapshot %d", delta, snap.Sequence)
	}
	tr := public.next("trades", "trades:ETH-USDT")
	var trades []struct {
		Price, Quantity string
		TakerSide       string `json:"taker_side"`
	}
	json.Unmarshal(tr.Data, &trades)
	if len(trades) != 1 || trades[0].Price != "2000" || trades[0].Quantity != "0.4" || trades[0].TakerSide != "buy" {
		t.Fatalf("trades = %s", tr.Data)
	}
	tick := public.next("ticker", "ticker:ETH-USDT")
	if !strings.Contains(string(tick.Data), `"last":"2000"`) {
		t.Fatalf("ticker = %s", tick.Data)
	}
	ord := private.next("order", "orders")
	if !strings.Contains(string(ord.Data), `"client_order_id":"ws-1"`) || !strings.Contains(string(ord.Data), `"status":"filled"`) {
		t.Fatalf("private order update = %s", ord.Data)
	}
	bal := private.next("balances", "balances")
	if !strings.Contains(string(bal.Data), `"asset":"ETH"`) {
		t.Fatalf("private balances = %s", bal.Data)
	}

	// A cross-site page cannot open a socket with the user's cookie.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evil := header.Clone()
	evil.Set("Origin", "https://evil.example")
	if _, _, err := websocket.Dial(ctx, strings.Replace(x.url, "http", "ws", 1)+"/api/v1/ws", &websocket.DialOptions{HTTPHeader: evil}); err == nil {
		t.Fatal("a cross-origin upgrade was accepted")
	}
}

func TestWebSocketSubscriptionLimit(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	w := x.dialWS(nil)
	var chans []string
	for _, m := range []string{"BTC-USDT", "ETH-USDT", "ETH-BTC"} {
		for _, k := range []string{"book", "trades", "ticker"} {
			chans = append(chans, k+":"+m)
		}
	}
	w.send("subscribe", chans...) // 9
	w.next("subscribed", "")
	w.send("unsubscribe", chans...)
	w.next("unsubscribed", "")
	for i := 0; i < 3; i++ {
		w.send("subscribe", chans...)
	}
	// 9 distinct channels can never exceed the limit of 20; re-subscribing is idempotent.
	w.next("subscribed", "")
}

type bookJSON struct {
	Sequence   int64
	Bids, Asks [][2]string
}

// waitBookSequence polls the REST book until the feed has applied seq
// changes of market's book, and returns it.
func (x *exchange) waitBookSequence(market string, seq int64) bookJSON {
	x.t.Helper()
	var book bookJSON
	deadline := time.Now().Add(5 * time.Second)
	for {
		x.anonymous().mustJSON("GET", "/api/v1/markets/"+market+"/book?depth=10", nil, 200, &book)
		if book.Sequence >= seq {
			break
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("book %s at sequence %d, want %d", market, book.Sequence, seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if book.Sequence != seq {
		x.t.Fatalf("book %s at sequence %d, want exactly %d", market, book.Sequence, seq)
	}
	return book
}
