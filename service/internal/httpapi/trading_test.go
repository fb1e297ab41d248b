package httpapi_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

type orderJSON struct {
	ID             string
	ClientOrderID  *string `json:"client_order_id"`
	Market         string
	Side           string
	Type           string
	Price          *string
	Quantity       *string
	FilledQuantity string  `json:"filled_quantity"`
	FilledQuote    string  `json:"filled_quote"`
	AveragePrice   *string `json:"average_price"`
	Fee            string
	FeeAsset       string `json:"fee_asset"`
	Status         string
}

type fillJSON struct {
	TradeID  string `json:"trade_id"`
	OrderID  string `json:"order_id"`
	Side     string
	Role     string
	Price    string
	Quantity string
	Fee      string
	FeeAsset string `json:"fee_asset"`
}

func (c *client) fund(asset, amount string) {
	c.x.t.Helper()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": asset, "amount": amount}, 201, nil)
}

func (c *client) place(order map[string]any) orderJSON {
	c.x.t.Helper()
	var o orderJSON
	c.mustJSON("POST", "/api/v1/orders", order, 201, &o)
	return o
}

func (x *exchange) feeBalance(asset string) string {
	var v string
	x.db.Raw("SELECT coalesce((SELECT available::text FROM balances WHERE account_id = 2 AND asset = ?), '0')", asset).Scan(&v)
	return strings.TrimRight(strings.TrimRight(v, "0"), ".")
}

// Two users cross: the trade happens at the maker's price, fees (maker 10
// bps, taker 20 bps) are charged in the received asset and land in the fee
// account, and every balance and the journal reconcile.
func TestTwoUsersCross(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	alice, bob := x.trader(), x.trader()
	alice.fund("BTC", "2")
	bob.fund("USDT", "50000")

	ask := alice.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "30000", "quantity": "1", "client_order_id": "a-1"})
	if ask.Status != "open" || ask.FilledQuantity != "0" || *ask.ClientOrderID != "a-1" {
		t.Fatalf("resting ask = %+v", ask)
	}
	if av, held := alice.balance("BTC"); av != "1" || held != "1" {
		t.Fatalf("alice BTC %s/%s, want 1/1", av, held)
	}
	// Bob bids above the ask: he pays the maker's price, not his own.
	bid := bob.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "30010", "quantity": "0.4"})
	if bid.Status != "filled" || bid.FilledQuantity != "0.4" || *bid.AveragePrice != "30000" || bid.Fee != "0.0008" || bid.FeeAsset != "BTC" {
		t.Fatalf("taker bid = %+v", bid)
	}
	// Bob: 50000 - 12000 USDT; 0.4 BTC - 0.2% fee = 0.3992.
	if av, held := bob.balance("USDT"); av != "38000" || held != "0" {
		t.Fatalf("bob USDT %s/%s, want 38000/0 (price improvement released)", av, held)
	}
	if av, _ := bob.balance("BTC"); av != "0.3992" {
		t.Fatalf("bob BTC %s, want 0.3992", av)
	}
	// Alice: 12000 USDT - 0.1% maker fee = 11988; 0.6 BTC still reserved.
	if av, _ := alice.balance("USDT"); av != "11988" {
		t.Fatalf("alice USDT %s, want 11988", av)
	}
	if av, held := alice.balance("BTC"); av != "1" || held != "0.6" {
		t.Fatalf("alice BTC %s/%s, want 1/0.6", av, held)
	}
	if f := x.feeBalance("USDT"); f != "12" {
		t.Fatalf("fee account USDT %s, want 12", f)
	}
	if f := x.feeBalance("BTC"); f != "0.0008" {
		t.Fatalf("fee account BTC %s, want 0.0008", f)
	}

	var af, bf struct{ Data []fillJSON }
	alice.mustJSON("GET", "/api/v1/fills?market=BTC-USDT", nil, 200, &af)
	bob.mustJSON("GET", "/api/v1/fills", nil, 200, &bf)
	if len(af.Data) != 1 || af.Data[0].Role != "maker" || af.Data[0].Side != "sell" || af.Data[0].Fee != "12" || af.Data[0].FeeAsset != "USDT" || af.Data[0].OrderID != ask.ID {
		t.Fatalf("alice fills = %+v", af.Data)
	}
	if len(bf.Data) != 1 || bf.Data[0].Role != "taker" || bf.Data[0].Side != "buy" || bf.Data[0].Price != "30000" || bf.Data[0].TradeID != af.Data[0].TradeID {
		t.Fatalf("bob fills = %+v", bf.Data)
	}

	var got orderJSON
	alice.mustJSON("GET", "/api/v1/orders/"+ask.ID, nil, 200, &got)
	if got.Status != "partially_filled" || got.FilledQuantity != "0.4" || got.Fee != "12" {
		t.Fatalf("maker after fill = %+v", got)
	}
	bob.wantError("GET", "/api/v1/orders/"+ask.ID, nil, 404, "not_found")
	bob.wantError("DELETE", "/api/v1/orders/"+ask.ID, nil, 404, "not_found")
	alice.mustJSON("DELETE", "/api/v1/orders/"+ask.ID, nil, 200, &got)
	if got.Status != "cancelled" || got.FilledQuantity != "0.4" {
		t.Fatalf("cancelled maker = %+v", got)
	}
	alice.wantError("DELETE", "/api/v1/orders/"+ask.ID, nil, 409, "order_not_open")
	if av, held := alice.balance("BTC"); av != "1.6" || held != "0" {
		t.Fatalf("alice BTC after cancel %s/%s, want 1.6/0", av, held)
	}
	var open, closed struct{ Data []orderJSON }
	alice.mustJSON("GET", "/api/v1/orders?status=open", nil, 200, &open)
	alice.mustJSON("GET", "/api/v1/orders?status=closed&market=BTC-USDT", nil, 200, &closed)
	if len(open.Data) != 0 || len(closed.Data) != 1 {
		t.Fatalf("open %d closed %d", len(open.Data), len(closed.Data))
	}
	x.checkLedger()
}

// Every refused order gets its code and leaves no trace anywhere.
func TestRejectedOrdersLeaveNoTrace(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c, other := x.trader(), x.trader()
	c.fund("USDT", "100")
	c.fund("BTC", "1")
	other.fund("BTC", "1")
	other.fund("USDT", "100")
	other.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "50", "quantity": "0.5"})
	other.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "40", "quantity": "0.5"})
	before := pgtest.Checksums(t, x.db)
	cases := []struct {
		name  string
		order map[string]any
		code  string
	}{
		{"off tick", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10.001", "quantity": "1"}, "invalid_price"},
		{"no price", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "quantity": "1"}, "invalid_price"},
		{"negative price", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "-10", "quantity": "1"}, "invalid_price"},
		{"price as number", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": 10, "quantity": "1"}, "invalid_price"},
		{"off lot", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "0.00001"}, "invalid_quantity"},
		{"zero quantity", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "0"}, "invalid_quantity"},
		{"below min notional", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "1", "quantity": "0.5"}, "below_min_notional"},
		// A market order's value is what the book gives for it: one lot is
		// worth 0.005 USDT here, below the minimum of 1.
		{"market buy of dust", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "market", "quantity": "0.0001"}, "below_min_notional"},
		{"market sell of dust", map[string]any{"market": "BTC-USDT", "side": "sell", "type": "market", "quantity": "0.0001"}, "below_min_notional"},
		{"unknown market", map[string]any{"market": "DOGE-USDT", "side": "buy", "type": "limit", "price": "1", "quantity": "1"}, "unknown_market"},
		{"bad side", map[string]any{"market": "BTC-USDT", "side": "long", "type": "limit", "price": "10", "quantity": "1"}, "invalid_request"},
		{"market with price", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "market", "price": "10", "quantity": "1"}, "invalid_price"},
		{"market GTC", map[string]any{"market": "BTC-USDT", "side": "sell", "type": "market", "quantity": "0.1", "time_in_force": "GTC"}, "invalid_order"},
		{"quote on sell", map[string]any{"market": "BTC-USDT", "side": "sell", "type": "market", "quote_quantity": "10"}, "invalid_quantity"},
		{"insufficient funds", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "10.0001"}, "insufficient_funds"},
		{"post-only would take", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "60", "quantity": "0.1", "post_only": true}, "post_only_would_take"},
		{"fok not filled", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "60", "quantity": "0.6", "time_in_force": "FOK"}, "fok_not_filled"},
		{"market buy beyond funds", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "market", "quote_quantity": "100.01"}, "insufficient_funds"},
		{"bad client id", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "1", "client_order_id": "has space"}, "invalid_client_order_id"},
		{"unknown field", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "1", "leverage": 10}, "unknown_field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := c.wantError("POST", "/api/v1/orders", tc.order, 400, tc.code)
			if tc.code == "insufficient_funds" && !strings.Contains(msg, "available") {
				t.Fatalf("message %q should say what is available", msg)
			}
		})
	}
	after := pgtest.Checksums(t, x.db)
	for table, sum := range before {
		if after[table] != sum {
			t.Errorf("table %s changed after rejected orders", table)
		}
	}
}

func TestClientOrderIDIsIdempotent(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.fund("USDT", "1000")
	order := map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "1", "client_order_id": "retry-me"}
	first := c.place(order)
	var again orderJSON
	c.mustJSON("POST", "/api/v1/orders", order, 200, &again)
	if again.ID != first.ID {
		t.Fatalf("retry gave order %s, want %s", again.ID, first.ID)
	}
	// Racing duplicates: exactly one order, the rest see it.
	order["client_order_id"] = "race"
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, body := c.do("POST", "/api/v1/orders", order); st != 200 && st != 201 {
				t.Errorf("duplicate: %d %s", st, body)
			}
		}()
	}
	wg.Wait()
	var n int64
	x.db.Raw("SELECT count(*) FROM orders WHERE client_order_id = 'race'").Scan(&n)
	if n != 1 {
		t.Fatalf("%d orders with one client_order_id", n)
	}
	if av, held := c.balance("USDT"); av != "980" || held != "20" {
		t.Fatalf("USDT %s/%s, want 980/20: the duplicates reserved nothing", av, held)
	}
	x.checkLedger()
}

func TestSelfTradePrevention(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c, other := x.trader(), x.trader()
	c.fund("BTC", "1")
	c.fund("USDT", "1000")
	other.fund("BTC", "1")
	own := c.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "100", "quantity": "0.5"})
	theirs := other.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "100", "quantity": "0.5"})
	// c's buy meets its own ask first: that ask is cancelled, the buy trades with the other seller.
	bid := c.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.5"})
	if bid.Status != "filled" {
		t.Fatalf("bid = %+v", bid)
	}
	var o orderJSON
	c.mustJSON("GET", "/api/v1/orders/"+own.ID, nil, 200, &o)
	if o.Status != "cancelled" || o.FilledQuantity != "0" {
		t.Fatalf("own resting order = %+v, want cancelled without a fill", o)
	}
	other.mustJSON("GET", "/api/v1/orders/"+theirs.ID, nil, 200, &o)
	if o.Status != "filled" {
		t.Fatalf("other's order = %+v", o)
	}
	var fills struct{ Data []fillJSON }
	c.mustJSON("GET", "/api/v1/fills", nil, 200, &fills)
	if len(fills.Data) != 1 || fills.Data[0].OrderID != bid.ID {
		t.Fatalf("fills = %+v: no trade with oneself", fills.Data)
	}
	if _, held := c.balance("BTC"); held != "0" {
		t.Fatalf("BTC held %s after the self-trade cancel, want 0", held)
	}
	x.checkLedger()
}

func TestMarketOrdersAndTimeInForce(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	maker, taker := x.trader(), x.trader()
	maker.fund("ETH", "10")
	taker.fund("USDT", "10000")
	taker.fund("ETH", "1")
	for i, p := range []string{"2000", "2001", "2002"} {
		maker.place(map[string]any{"market": "ETH-USDT", "side": "sell", "type": "limit", "price": p, "quantity": "1", "client_order_id": fmt.Sprint("ask", i)})
	}
	// Market buy by quote: 2500 USDT buys 1 @ 2000 and 0.249 @ 2001 (lot 0.001).
	o := taker.place(map[string]any{"market": "ETH-USDT", "side": "buy", "type": "market", "quote_quantity": "2500"})
	if o.Status != "filled" || o.FilledQuantity != "1.249" || o.FilledQuote != "2498.249" {
		t.Fatalf("market buy by quote = %+v", o)
	}
	if av, held := taker.balance("USDT"); av != "7501.751" || held != "0" {
		t.Fatalf("USDT %s/%s, want 7501.751/0: the unspent budget comes back", av, held)
	}
	// IOC beyond the book: fills what is there, the rest is cancelled.
	o = taker.place(map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "2001", "quantity": "2", "time_in_force": "IOC"})
	if o.Status != "cancelled" || o.FilledQuantity != "0.751" {
		t.Fatalf("IOC = %+v", o)
	}
	// Market buy by quantity reserves exactly its cost.
	o = taker.place(map[string]any{"market": "ETH-USDT", "side": "buy", "type": "market", "quantity": "0.5"})
	if o.Status != "filled" || o.FilledQuote != "1001" {
		t.Fatalf("market buy by quantity = %+v", o)
	}
	// A market sell into an empty bid side trades nothing.
	o = taker.place(map[string]any{"market": "ETH-USDT", "side": "sell", "type": "market", "quantity": "0.1"})
	if o.Status != "cancelled" || o.FilledQuantity != "0" {
		t.Fatalf("market sell into nothing = %+v", o)
	}
	if _, held := taker.balance("ETH"); held != "0" {
		t.Fatalf("ETH held %s, want 0", held)
	}
	x.checkLedger()
}

func TestMarketHaltAndCancelAll(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.fund("USDT", "1000")
	c.fund("ETH", "5")
	c.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1"})
	c.place(map[string]any{"market": "ETH-USDT", "side": "sell", "type": "limit", "price": "3000", "quantity": "2"})
	c.place(map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1"})
	admin := x.admin()
	c.wantError("POST", "/api/v1/admin/markets/ETH-USDT/halt", nil, 403, "forbidden")
	admin.mustJSON("POST", "/api/v1/admin/markets/ETH-USDT/halt", nil, 200, nil)
	c.wantError("POST", "/api/v1/orders", map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1"}, 400, "market_halted")
	var markets []struct{ Name, Status string }
	c.mustJSON("GET", "/api/v1/markets", nil, 200, &markets)
	for _, m := range markets {
		if (m.Name == "ETH-USDT") != (m.Status == "halted") {
			t.Fatalf("markets = %+v", markets)
		}
	}
	// Cancels still work on a halted market.
	var res struct{ Cancelled []orderJSON }
	c.mustJSON("DELETE", "/api/v1/orders?market=ETH-USDT", nil, 200, &res)
	if len(res.Cancelled) != 2 {
		t.Fatalf("cancel-all in ETH-USDT cancelled %d, want 2", len(res.Cancelled))
	}
	admin.mustJSON("POST", "/api/v1/admin/markets/ETH-USDT/resume", nil, 200, nil)
	c.place(map[string]any{"market": "ETH-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1"})
	c.mustJSON("DELETE", "/api/v1/orders", nil, 200, &res)
	if len(res.Cancelled) != 2 {
		t.Fatalf("cancel-all cancelled %d, want 2", len(res.Cancelled))
	}
	if av, held := c.balance("USDT"); av != "1000" || held != "0" {
		t.Fatalf("USDT %s/%s after cancelling everything", av, held)
	}
	x.checkLedger()
}

// Many traders place, take and cancel concurrently, cancels racing fills
// of the same orders. Whatever interleaving happens, the books must
// balance, held funds must equal open reservations, and every order must
// end in a consistent state.
func TestConcurrentTradingKeepsBooksBalanced(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	const traders = 8
	var cs []*client
	for range traders {
		c := x.trader()
		c.fund("BTC", "10")
		c.fund("USDT", "1000000")
		cs = append(cs, c)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var mine []string
			for range 60 {
				side := []string{"buy", "sell"}[rng.IntN(2)]
				price := fmt.Sprintf("%d", 30000+rng.IntN(20)-10)
				qty := fmt.Sprintf("0.%03d", 1+rng.IntN(200))
				var order map[string]any
				switch rng.IntN(10) {
				case 0:
					order = map[string]any{"market": "BTC-USDT", "side": side, "type": "market", "quantity": qty}
				case 1, 2:
					if len(mine) > 0 {
						id := mine[rng.IntN(len(mine))]
						if st, body := c.do("DELETE", "/api/v1/orders/"+id, nil); st != 200 && st != 409 {
							t.Errorf("cancel: %d %s", st, body)
						}
						continue
					}
					fallthrough
				default:
					order = map[string]any{"market": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": qty}
				}
				st, body := c.do("POST", "/api/v1/orders", order)
				switch {
				case st == 201:
					var o orderJSON
					if err := json.Unmarshal(body, &o); err == nil && (o.Status == "open" || o.Status == "partially_filled") {
						mine = append(mine, o.ID)
					}
				case st == 400 && strings.Contains(string(body), "insufficient_funds"):
				default:
					t.Errorf("place: %d %s", st, body)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		for _, l := range strings.Split(x.logs.String(), "\n") {
			if strings.Contains(l, "ERROR") {
				t.Log(l)
				break
			}
		}
	}
	x.checkLedger()
	var bad int64
	x.db.Raw(`SELECT count(*) FROM orders WHERE (status = 'filled' AND quantity IS NOT NULL AND filled_quantity <> quantity)
		OR (status = 'open' AND filled_quantity <> 0) OR (status = 'partially_filled' AND (filled_quantity = 0 OR filled_quantity = quantity))`).Scan(&bad)
	if bad != 0 {
		t.Fatalf("%d orders have a status that contradicts their fills", bad)
	}
	var trades int64
	x.db.Raw("SELECT count(*) FROM trades").Scan(&trades)
	if trades == 0 {
		t.Fatal("no trades happened: the test exercised nothing")
	}
}

// The request log line of an order carries its id and market, and the
// order counters move.
func TestOrderLogsAndMetrics(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.fund("USDT", "100")
	o := c.place(map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "1"})
	c.wantError("POST", "/api/v1/orders", map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "10", "quantity": "100"}, 400, "insufficient_funds")
	found := false
	for _, l := range strings.Split(x.logs.String(), "\n") {
		if strings.Contains(l, `"route":"/api/v1/orders"`) && strings.Contains(l, `"order_id":`+o.ID) && strings.Contains(l, `"market":"BTC-USDT"`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no order log line with order_id %s and market:\n%s", o.ID, x.logs.String())
	}
	_, body := x.metrics()
	for _, want := range []string{
		`exchange_orders_received_total{market="BTC-USDT"} 2`,
		`exchange_orders_accepted_total{market="BTC-USDT"} 1`,
		`exchange_orders_rejected_total{market="BTC-USDT",reason="insufficient_funds"} 1`,
		`exchange_sequencer_leader 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestBatchOrders(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.fund("USDT", "1000")
	var res struct {
		Results []struct {
			Status int
			Order  *orderJSON
			Error  *struct{ Code, Message string }
		}
	}
	c.mustJSON("POST", "/api/v1/orders/batch", map[string]any{"orders": []map[string]any{
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "client_order_id": "b-1"},
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100.001", "quantity": "1"},
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "100"},
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "client_order_id": "b-1"},
	}}, 200, &res)
	if len(res.Results) != 4 {
		t.Fatalf("results = %+v", res.Results)
	}
	first, tick, funds, repeat := res.Results[0], res.Results[1], res.Results[2], res.Results[3]
	if tick.Status != 400 || tick.Error.Code != "invalid_price" || funds.Error == nil || funds.Error.Code != "insufficient_funds" {
		t.Fatalf("results = %+v", res.Results)
	}
	// The two orders with client_order_id b-1 race inside the batch: one
	// places the order (201), the other gets that same order (200), never
	// a second one.
	if first.Order == nil || repeat.Order == nil || first.Order.ID != repeat.Order.ID || first.Status+repeat.Status != 401 {
		t.Fatalf("repeated client_order_id: %+v and %+v", first, repeat)
	}
	if av, held := c.balance("USDT"); av != "900" || held != "100" {
		t.Fatalf("USDT %s/%s, want 900/100", av, held)
	}
	// In a later batch b-1 is found before the sequencer (one query for
	// the batch's client ids) and answered 200 with the same order, while
	// b-2 beside it is new.
	var later struct {
		Results []struct {
			Status int
			Order  *orderJSON
		}
	}
	c.mustJSON("POST", "/api/v1/orders/batch", map[string]any{"orders": []map[string]any{
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "client_order_id": "b-2"},
		{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "1", "client_order_id": "b-1"},
	}}, 200, &later)
	if len(later.Results) != 2 || later.Results[0].Status != 201 || later.Results[1].Status != 200 || later.Results[1].Order.ID != first.Order.ID {
		t.Fatalf("client ids in a later batch: %+v", later.Results)
	}
	if av, held := c.balance("USDT"); av != "800" || held != "200" {
		t.Fatalf("USDT %s/%s, want 800/200", av, held)
	}
	c.wantError("POST", "/api/v1/orders/batch", map[string]any{"orders": []map[string]any{}}, 400, "invalid_request")
	x.checkLedger()
}

// A cancel and a taker racing for the same resting order: exactly one
// wins, the loser is told so, and the database and the ledger agree with
// what each was told.
func TestCancelRacingAFill(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	maker, taker := x.trader(), x.trader()
	maker.fund("BTC", "10")
	taker.fund("USDT", "100000")
	cancelled, filled := 0, 0
	for i := range 40 {
		ask := maker.place(map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "50", "quantity": "0.1"})
		var wg sync.WaitGroup
		var cancelStatus int
		var cancelBody []byte
		var bid orderJSON
		wg.Add(2)
		go func() {
			defer wg.Done()
			cancelStatus, cancelBody = maker.do("DELETE", "/api/v1/orders/"+ask.ID, nil)
		}()
		go func() {
			defer wg.Done()
			st, body := taker.do("POST", "/api/v1/orders", map[string]any{
				"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "50", "quantity": "0.1", "time_in_force": "IOC"})
			if st != 201 || json.Unmarshal(body, &bid) != nil {
				t.Errorf("round %d: taker got %d %s", i, st, body)
			}
		}()
		wg.Wait()
		var dbStatus string
		var trades int
		x.db.Raw("SELECT status FROM orders WHERE id = ?", ask.ID).Scan(&dbStatus)
		x.db.Raw("SELECT count(*) FROM trades WHERE maker_order_id = ?", ask.ID).Scan(&trades)
		switch cancelStatus {
		case 200:
			cancelled++
			if bid.FilledQuantity != "0" || dbStatus != "cancelled" || trades != 0 {
				t.Fatalf("round %d: cancel won, yet taker filled %s, maker %s with %d trades", i, bid.FilledQuantity, dbStatus, trades)
			}
		case 409:
			filled++
			if !strings.Contains(string(cancelBody), "order_not_open") || bid.FilledQuantity != "0.1" || dbStatus != "filled" || trades != 1 {
				t.Fatalf("round %d: cancel lost (%s), taker filled %s, maker %s with %d trades", i, cancelBody, bid.FilledQuantity, dbStatus, trades)
			}
		default:
			t.Fatalf("round %d: cancel got %d %s", i, cancelStatus, cancelBody)
		}
	}
	t.Logf("40 races: cancel won %d, fill won %d", cancelled, filled)
	want := money.MustParse("10") - money.Amount(filled)*money.MustParse("0.1")
	if av, held := maker.balance("BTC"); held != "0" || money.MustParse(av) != want {
		t.Errorf("maker BTC %s/%s after %d fills, want %s/0", av, held, filled, want)
	}
	x.checkLedger()
}
