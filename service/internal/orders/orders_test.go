package orders

import (
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
)

func defaultMarket(t testing.TB) (catalog.Market, catalog.Asset, catalog.Asset) {
	d := catalog.Defaults()
	assets := map[string]catalog.Asset{}
	for _, a := range d.Assets {
		assets[a.Symbol] = a
	}
	m := d.Markets[0] // BTC-USDT
	return m, assets[m.Base], assets[m.Quote]
}

func str(s string) *string { return &s }

func TestParse(t *testing.T) {
	m, base, quote := defaultMarket(t)
	cases := []struct {
		name string
		req  PlaceRequest
		code string
	}{
		{"limit ok", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("30000.01"), Quantity: str("0.0001")}, ""},
		{"market by quote ok", PlaceRequest{Market: m.Name, Side: "buy", Type: "market", QuoteQuantity: str("10")}, ""},
		{"market sell FOK ok", PlaceRequest{Market: m.Name, Side: "sell", Type: "market", Quantity: str("1"), TimeInForce: "FOK"}, ""},
		{"tick", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("30000.001"), Quantity: str("1")}, "invalid_price"},
		{"lot", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("30000"), Quantity: str("0.00001")}, "invalid_quantity"},
		{"notional", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("0.01"), Quantity: str("1")}, "below_min_notional"},
		{"overflow", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("90000000000"), Quantity: str("90000000000")}, "invalid_quantity"},
		{"both quantities", PlaceRequest{Market: m.Name, Side: "buy", Type: "market", Quantity: str("1"), QuoteQuantity: str("1")}, "invalid_quantity"},
		{"quote FOK", PlaceRequest{Market: m.Name, Side: "buy", Type: "market", QuoteQuantity: str("10"), TimeInForce: "FOK"}, "invalid_order"},
		{"post-only market", PlaceRequest{Market: m.Name, Side: "buy", Type: "market", Quantity: str("1"), PostOnly: true}, "invalid_order"},
		{"bad tif", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("1"), Quantity: str("1"), TimeInForce: "GTD"}, "invalid_request"},
		{"bad type", PlaceRequest{Market: m.Name, Side: "buy", Type: "stop", Quantity: str("1")}, "invalid_request"},
		{"exponent", PlaceRequest{Market: m.Name, Side: "buy", Type: "limit", Price: str("3e4"), Quantity: str("1")}, "invalid_price"},
	}
	for _, c := range cases {
		_, err := Parse(c.req, m, base, quote)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		e, ok := apierr.As(err)
		if !ok || string(e.Code) != c.code || e.Message == "" {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}

// FuzzParse feeds arbitrary field values to the parser: it must never
// panic, must refuse with a coded client error, and whatever it accepts the
// engine's own rule check must accept too.
func FuzzParse(f *testing.F) {
	f.Add("buy", "limit", "30000", "0.001", "", "GTC", false, "id-1")
	f.Add("sell", "market", "", "1", "", "FOK", false, "")
	f.Add("buy", "market", "", "", "100.5", "", false, "x")
	f.Add("buy", "limit", "-0", "00.0001", "", "", true, "")
	f.Add("sell", "limit", "92233720368.54775807", "92233720368", "", "IOC", false, "")
	m, base, quote := defaultMarket(f)
	f.Fuzz(func(t *testing.T, side, typ, price, qty, quoteQty, tif string, postOnly bool, clientID string) {
		req := PlaceRequest{Market: m.Name, Side: side, Type: typ, TimeInForce: tif, PostOnly: postOnly, ClientOrderID: clientID}
		if price != "" {
			req.Price = &price
		}
		if qty != "" {
			req.Quantity = &qty
		}
		if quoteQty != "" {
			req.QuoteQuantity = &quoteQty
		}
		spec, err := Parse(req, m, base, quote)
		if err != nil {
			if e, ok := apierr.As(err); !ok || e.Code == "" || e.Message == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		o := spec.Order
		o.ID = 1
		if r := Rules(m, base, quote).Check(o); r != 0 {
			t.Fatalf("parsed an order the engine refuses (%v): %+v", r, o)
		}
	})
}
