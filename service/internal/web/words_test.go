package web

import (
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// The forms read amounts as people type them, and refuse a comma that
// might be a decimal comma rather than guess.
func TestTypedAmount(t *testing.T) {
	ok := map[string]string{
		"":             "",
		"  ":           "",
		" 48000 ":      "48000",
		"50,000":       "50000",
		"1,234,567.89": "1234567.89",
		"999":          "999",
		"0.5":          "0.5",
		"12 500":       "12500",
		"12\u00a0500":  "12500",
		"\t7.25\n":     "7.25",
		"1e3":          "1e3", // not ours to judge: money.Parse refuses it
		"-5":           "-5",
	}
	for in, want := range ok {
		got, err := typedAmount(in, "amount")
		if err != nil || got != want {
			t.Errorf("typedAmount(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"1,5", "1,50", "1,5000", ",500", "500,", "1,,000", "1,000,00", "1.000,5", "1,000.5,0", "1 000,000", "12,3456", "a,bcd", "1,000 000", "1\n000", "1\t000"} {
		if got, err := typedAmount(in, "amount"); err == nil {
			t.Errorf("typedAmount(%q) = %q, want a refusal", in, got)
		} else if !strings.HasPrefix(err.Error(), `invalid_amount: amount "`) {
			t.Errorf("typedAmount(%q): %v", in, err)
		}
	}
}

func TestGrouped(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "1": "1", "999": "999", "1000": "1,000", "30000": "30,000", "1234567.891": "1,234,567.891", "-1000.5": "-1,000.5", "100000": "100,000",
	} {
		if got := grouped(money.MustParse(in)); got != want {
			t.Errorf("grouped(%s) = %q, want %q", in, got, want)
		}
	}
}

// What each way an order can end says to the trader.
func TestOrderOutcome(t *testing.T) {
	m := catalog.Defaults().Markets[0] // BTC-USDT
	amt := func(s string) *money.Amount { a := money.MustParse(s); return &a }
	base := orders.Order{ID: 7, Market: m.Name, Side: engine.Buy, Type: engine.Limit, TimeInForce: engine.GTC, CreatedAt: time.Now()}
	with := func(f func(*orders.Order)) orders.JSON { o := base; f(&o); return o.View(m) }
	cases := map[string]struct {
		o    orders.JSON
		want string
	}{
		"open": {with(func(o *orders.Order) { o.Price, o.Quantity, o.Status = amt("30000"), amt("0.5"), orders.StatusOpen }),
			"Buy order 7 placed: 0.5 BTC at 30,000 USDT is on the book."},
		"partly filled, resting": {with(func(o *orders.Order) {
			o.Price, o.Quantity, o.Status = amt("30000"), amt("0.5"), orders.StatusPartiallyFilled
			o.FilledQuantity, o.FilledQuote, o.Fee = money.MustParse("0.2"), money.MustParse("6000"), money.MustParse("0.0004")
		}), "Buy order 7: 0.2 of 0.5 BTC bought at an average price of 30,000 USDT (fee 0.0004 BTC); the other 0.3 BTC is on the book at 30,000 USDT."},
		"IOC partly filled": {with(func(o *orders.Order) {
			o.Price, o.Quantity, o.Status, o.CancelReason, o.TimeInForce = amt("30000"), amt("0.3"), orders.StatusCancelled, orders.CancelIOCRemainder, engine.IOC
			o.FilledQuantity, o.FilledQuote, o.Fee = money.MustParse("0.2"), money.MustParse("6000"), money.MustParse("0.0004")
		}), "Buy order 7: 0.2 of 0.3 BTC bought at an average price of 30,000 USDT (fee 0.0004 BTC). The other 0.1 BTC was cancelled: an immediate-or-cancel order never rests on the book."},
		"market, nothing to buy": {with(func(o *orders.Order) {
			o.Type, o.Quantity, o.Status, o.CancelReason = engine.Market, amt("1"), orders.StatusCancelled, orders.CancelIOCRemainder
		}), "Market buy order 7 did not trade and was cancelled: the book had no sell orders, and a market order never rests on the book. Nothing was spent."},
		"IOC sell, no buyer at the price": {with(func(o *orders.Order) {
			o.Side, o.Price, o.Quantity, o.Status, o.CancelReason = engine.Sell, amt("31000"), amt("1"), orders.StatusCancelled, orders.CancelIOCRemainder
		}), "Sell order 7 did not trade and was cancelled: there was no buy order at 31,000 USDT or higher, and an immediate-or-cancel order never rests on the book. Nothing was spent."},
		"market sell filled": {with(func(o *orders.Order) {
			o.Side, o.Type, o.Quantity, o.Status = engine.Sell, engine.Market, amt("1"), orders.StatusFilled
			o.FilledQuantity, o.FilledQuote, o.Fee = money.One, money.MustParse("30500"), money.MustParse("61")
		}), "Market sell order 7 filled: 1 BTC sold at an average price of 30,500 USDT (fee 61 USDT)."},
		"budget": {with(func(o *orders.Order) {
			o.Type, o.QuoteQuantity, o.Status = engine.Market, amt("3000.5"), orders.StatusFilled
			o.FilledQuantity, o.FilledQuote, o.Fee = money.MustParse("0.1"), money.MustParse("3000"), money.MustParse("0.0002")
		}), "Market buy order 7 filled: 0.1 BTC bought for 3,000 USDT at an average price of 30,000 USDT (fee 0.0002 BTC); 0.5 USDT of the 3,000.5 USDT budget was not spent."},
		"budget, empty book": {with(func(o *orders.Order) {
			o.Type, o.QuoteQuantity, o.Status, o.CancelReason = engine.Market, amt("100"), orders.StatusCancelled, orders.CancelIOCRemainder
		}), "Market buy order 7 did not trade: there was nothing to buy on the book, and a market order never rests on it. Nothing of the 100 USDT budget was spent."},
	}
	for name, c := range cases {
		if got := orderOutcome(c.o, m); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, c.want)
		}
	}
	stp := with(func(o *orders.Order) {
		o.Side, o.Price, o.Quantity, o.Status, o.CancelReason = engine.Sell, amt("28000"), amt("0.3"), orders.StatusCancelled, orders.CancelSelfTrade
		o.FilledQuantity = money.MustParse("0.1")
	})
	want := "Self-trade prevention cancelled your resting sell order 7 (0.2 BTC at 28,000 USDT): this order would have traded with it, and the exchange never lets you trade with yourself."
	if got := selfTradeNotice([]orders.JSON{stp}, m); got != want {
		t.Errorf("self-trade notice:\n got %s\nwant %s", got, want)
	}
	if got := statusLabel(stp); got != "cancelled · self-trade prevention" {
		t.Errorf("status label %q", got)
	}
	// Every reason the orders package knows has words.
	for r := orders.CancelUser; r <= orders.CancelDisconnect; r++ {
		if w, ok := cancelReasonWords[r]; !ok || w.Short == "" || w.Long == "" {
			t.Errorf("no words for cancel reason %s", r)
		}
	}
}
