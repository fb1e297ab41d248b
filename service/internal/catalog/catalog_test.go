package catalog

import (
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

func TestDefaultsAreValid(t *testing.T) {
	d := Defaults()
	assets := map[string]Asset{}
	for _, a := range d.Assets {
		assets[a.Symbol] = a
	}
	for _, m := range d.Markets {
		if err := m.Validate(assets[m.Base], assets[m.Quote]); err != nil {
			t.Errorf("default market %s: %v", m.Name, err)
		}
	}
}

func TestMarketValidate(t *testing.T) {
	btc := Asset{Symbol: "BTC", Precision: 8}
	usdt := Asset{Symbol: "USDT", Precision: 6}
	good := Market{Name: "BTC-USDT", Base: "BTC", Quote: "USDT", TickSize: money.MustParse("0.01"), LotSize: money.MustParse("0.0001"), MinNotional: money.One}
	mutate := func(f func(*Market)) Market { m := good; f(&m); return m }
	cases := map[string]struct {
		m    Market
		base Asset
		want string
	}{
		"name":                 {mutate(func(m *Market) { m.Name = "BTCUSDT" }), btc, "name must be BASE-QUOTE"},
		"notional would round": {mutate(func(m *Market) { m.LotSize = money.MustParse("0.00001") }), btc, "finer than USDT precision 6"},
		"lot finer than base":  {good, Asset{Symbol: "BTC", Precision: 3}, "finer than BTC precision 3"},
		"zero tick":            {mutate(func(m *Market) { m.TickSize = 0 }), btc, "must be positive"},
		"fee too high":         {mutate(func(m *Market) { m.TakerFeeBps = 1001 }), btc, "0..1000 basis points"},
	}
	for name, c := range cases {
		err := c.m.Validate(c.base, usdt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if err := good.Validate(btc, usdt); err != nil {
		t.Errorf("good market: %v", err)
	}
}

func TestParseAmount(t *testing.T) {
	usdt := Asset{Symbol: "USDT", Precision: 6}
	for in, want := range map[string]string{
		"1.0000001":                   "USDT amounts have at most 6 decimal places",
		"0":                           "greater than zero",
		"-5":                          "greater than zero",
		"1e5":                         "not a decimal string",
		"1" + strings.Repeat("0", 12): "out of range",
	} {
		_, err := usdt.ParseAmount(in)
		e, ok := apierr.As(err)
		if !ok || e.Code != apierr.InvalidAmount || !strings.Contains(e.Message, want) {
			t.Errorf("ParseAmount(%q) = %v, want invalid_amount with %q", in, err, want)
		}
	}
	if a, err := usdt.ParseAmount("12.345678"); err != nil || a != money.MustParse("12.345678") {
		t.Errorf("valid amount: %v %v", a, err)
	}
}
