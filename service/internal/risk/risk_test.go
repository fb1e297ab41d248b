package risk

import (
	"errors"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

var m = money.MustParse

func TestApplyIsAllOrNothing(t *testing.T) {
	alice, bob := Key{1000, "USDT"}, Key{1001, "BTC"}
	cases := []struct {
		name   string
		start  map[Key]Balance
		legs   []Leg
		want   map[Key]Balance
		insuff bool
		broken bool
	}{
		{"hold", map[Key]Balance{alice: {m("100"), 0}},
			[]Leg{{1000, "USDT", Available, m("-40")}, {1000, "USDT", Held, m("40")}},
			map[Key]Balance{alice: {m("60"), m("40")}}, false, false},
		{"hold all", map[Key]Balance{alice: {m("100"), 0}},
			[]Leg{{1000, "USDT", Available, m("-100")}, {1000, "USDT", Held, m("100")}},
			map[Key]Balance{alice: {0, m("100")}}, false, false},
		{"hold more than available", map[Key]Balance{alice: {m("100"), 0}},
			[]Leg{{1000, "USDT", Available, m("-100.00000001")}, {1000, "USDT", Held, m("100.00000001")}},
			map[Key]Balance{alice: {m("100"), 0}}, true, false},
		{"one refused leg refuses all", map[Key]Balance{alice: {m("100"), 0}, bob: {m("1"), 0}},
			[]Leg{{1000, "USDT", Available, m("-10")}, {1000, "USDT", Held, m("10")}, {1001, "BTC", Available, m("-2")}, {1001, "BTC", Held, m("2")}},
			map[Key]Balance{alice: {m("100"), 0}, bob: {m("1"), 0}}, true, false},
		{"release more than held is a fault", map[Key]Balance{alice: {0, m("5")}},
			[]Leg{{1000, "USDT", Held, m("-6")}, {1000, "USDT", Available, m("6")}},
			map[Key]Balance{alice: {0, m("5")}}, false, true},
		{"external account is never kept", map[Key]Balance{},
			[]Leg{{ExternalAccount, "USDT", Available, m("-1000")}, {1000, "USDT", Available, m("1000")}},
			map[Key]Balance{alice: {m("1000"), 0}, {ExternalAccount, "USDT"}: {}}, false, false},
		{"a balance never seen starts at zero", map[Key]Balance{},
			[]Leg{{1000, "USDT", Available, m("-1")}, {1001, "USDT", Available, m("1")}},
			map[Key]Balance{alice: {}}, true, false},
		{"overflow is a fault", map[Key]Balance{alice: {money.Max, 0}},
			[]Leg{{ExternalAccount, "USDT", Available, m("-1")}, {1000, "USDT", Available, m("1")}},
			map[Key]Balance{alice: {money.Max, 0}}, false, false},
	}
	for _, c := range cases {
		b := NewBalances()
		for k, v := range c.start {
			b.Load(k, v)
		}
		err := b.Apply(c.legs)
		var ins *Insufficient
		switch {
		case c.insuff && !errors.As(err, &ins):
			t.Errorf("%s: %v, want insufficient funds", c.name, err)
		case c.broken && !errors.Is(err, ErrBroken):
			t.Errorf("%s: %v, want a broken reservation", c.name, err)
		case !c.insuff && !c.broken && c.name != "overflow is a fault" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.name == "overflow is a fault" && err == nil:
			t.Errorf("%s: no error", c.name)
		}
		for k, want := range c.want {
			if got := b.Get(k); got != want {
				t.Errorf("%s: %v = %+v, want %+v", c.name, k, got, want)
			}
		}
		if err != nil && len(b.Touched()) != 0 {
			t.Errorf("%s: a refused change touched balances", c.name)
		}
	}
}

func TestHolds(t *testing.T) {
	buy := func(price, qty string) engine.Order {
		return engine.Order{ID: 1, Side: engine.Buy, Kind: engine.Limit, TIF: engine.GTC, Price: m(price), Quantity: m(qty)}
	}
	cases := []struct {
		name string
		o    engine.Order
		cost money.Amount
		want money.Amount
	}{
		{"limit buy", buy("30000.01", "0.5"), 0, m("15000.005")},
		{"limit buy rounds up", buy("0.00000003", "0.5"), 0, m("0.00000002")},
		{"sell holds its quantity", engine.Order{Side: engine.Sell, Kind: engine.Limit, Price: m("30000"), Quantity: m("0.25")}, 0, m("0.25")},
		{"market buy by budget", engine.Order{Side: engine.Buy, Kind: engine.Market, QuoteQuantity: m("100")}, 0, m("100")},
		{"market buy by quantity holds the book's cost", engine.Order{Side: engine.Buy, Kind: engine.Market, Quantity: m("1")}, m("30123.45"), m("30123.45")},
	}
	for _, c := range cases {
		got, err := Hold(c.o, c.cost)
		if err != nil || got != c.want {
			t.Errorf("%s: %s %v, want %s", c.name, got, err, c.want)
		}
	}
	if _, err := Hold(buy("92233720368", "92233720368"), 0); err == nil {
		t.Error("an out-of-range notional must be refused")
	}
}

func TestUnspent(t *testing.T) {
	o := engine.Order{ID: 7, Side: engine.Buy, Kind: engine.Limit, TIF: engine.GTC, Price: m("100"), Quantity: m("2")}
	hold, _ := Hold(o, 0) // 200
	// Filled 1 at 90 (price improvement 10), 1 rests (keeps 100).
	got, err := Unspent(o, hold, engine.Fill{Filled: m("1"), FilledQuote: m("90"), Resting: m("1")})
	if err != nil || got != m("10") {
		t.Fatalf("price improvement: %s %v", got, err)
	}
	ioc := o
	ioc.TIF = engine.IOC
	if got, _ := Unspent(ioc, hold, engine.Fill{Filled: m("0.5"), FilledQuote: m("50")}); got != m("150") {
		t.Fatalf("IOC remainder: %s", got)
	}
	sell := engine.Order{ID: 8, Side: engine.Sell, Kind: engine.Limit, Price: m("100"), Quantity: m("3")}
	if got, _ := Unspent(sell, m("3"), engine.Fill{Filled: m("1"), FilledQuote: m("100"), Resting: m("2")}); got != 0 {
		t.Fatalf("a sell keeps what rests: %s", got)
	}
	if _, err := Unspent(o, hold, engine.Fill{Filled: m("2"), FilledQuote: m("250")}); !errors.Is(err, ErrBroken) {
		t.Fatalf("spending more than the hold must be a fault: %v", err)
	}
}

// A trade's postings balance per asset, pay each side what it receives
// minus its fee, and take from each what it held.
func TestSettleBalances(t *testing.T) {
	for _, side := range []engine.Side{engine.Buy, engine.Sell} {
		var p Postings
		tr := engine.Trade{MakerOwner: 1001, TakerOwner: 1002, TakerSide: side, Price: m("100"), Quantity: m("2"), Quote: m("200"),
			MakerFee: m("0.2"), TakerFee: m("0.004")}
		Settle(&p, tr, "BTC", "USDT")
		legs := p.Legs()
		if err := Balanced(legs); err != nil {
			t.Fatalf("taker %v: %v", side, err)
		}
		buyer, seller := int64(1002), int64(1001)
		buyerFee, sellerFee := tr.TakerFee, tr.MakerFee
		if side == engine.Sell {
			buyer, seller, buyerFee, sellerFee = seller, buyer, sellerFee, buyerFee
		}
		want := map[Leg]money.Amount{
			{buyer, "USDT", Held, 0}: -m("200"), {seller, "USDT", Available, 0}: m("200") - sellerFee, {FeeAccount, "USDT", Available, 0}: sellerFee,
			{seller, "BTC", Held, 0}: -m("2"), {buyer, "BTC", Available, 0}: m("2") - buyerFee, {FeeAccount, "BTC", Available, 0}: buyerFee,
		}
		for _, l := range legs {
			k := l
			k.Amount = 0
			if want[k] != l.Amount {
				t.Errorf("taker %v: leg %+v, want %s", side, l, want[k])
			}
		}
	}
}

func TestPostingsNet(t *testing.T) {
	var p Postings
	p.Move(1000, "BTC", Available, Held, m("1"))
	p.Move(1000, "BTC", Held, Available, m("1"))
	p.Transfer("USDT", m("5"), ExternalAccount, Available, 1000, Available)
	legs := p.Legs()
	if len(legs) != 2 || legs[0].Account != ExternalAccount || legs[1].Amount != m("5") {
		t.Fatalf("netted legs %+v", legs)
	}
}
