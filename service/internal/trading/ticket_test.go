package trading

import (
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
)

// How a filled-in order form becomes an order request: the amount
// decides a limit order, a total is worked out into whole lots at the
// price, a market buy takes one or the other, a market sell an amount.
func TestTicketRequest(t *testing.T) {
	m := catalog.Defaults().Markets[0] // BTC-USDT: lot 0.0001
	deref := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	ok := []struct {
		name                 string
		t                    Ticket
		price, qty, quoteQty string
	}{
		{"limit by amount", Ticket{Side: "buy", Type: "limit", Price: "30000", Amount: "0.5", Total: "1"}, "30000", "0.5", "-"},
		{"limit by total", Ticket{Side: "buy", Type: "limit", Price: "29000", Total: "2900"}, "29000", "0.1", "-"},
		{"limit by total, rounded down to the lot", Ticket{Side: "sell", Type: "limit", Price: "30000", Total: "100"}, "30000", "0.0033", "-"},
		{"market buy by amount", Ticket{Side: "buy", Type: "market", Amount: "1"}, "-", "1", "-"},
		{"market buy by budget", Ticket{Side: "buy", Type: "market", Total: "3000"}, "-", "-", "3000"},
		{"market sell", Ticket{Side: "sell", Type: "market", Amount: "1"}, "-", "1", "-"},
		{"limit, bad price: left to Parse", Ticket{Side: "buy", Type: "limit", Price: "x", Total: "10"}, "x", "-", "-"},
		{"limit, no price: left to Parse", Ticket{Side: "buy", Type: "limit", Total: "10"}, "-", "-", "-"},
	}
	for _, c := range ok {
		r, err := ticketRequest(c.t, m)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := [3]string{deref(r.Price), deref(r.Quantity), deref(r.QuoteQuantity)}; got != [3]string{c.price, c.qty, c.quoteQty} {
			t.Errorf("%s: price, quantity, quote quantity = %v", c.name, got)
		}
	}
	refused := []struct {
		name string
		t    Ticket
		want string
	}{
		{"market, both", Ticket{Side: "buy", Type: "market", Amount: "1", Total: "1"}, "not both"},
		{"market sell by total", Ticket{Side: "sell", Type: "market", Total: "1"}, "takes the amount of BTC to sell"},
		{"market buy, nothing", Ticket{Side: "buy", Type: "market"}, "or the total in USDT to spend"},
		{"limit, no amount", Ticket{Side: "buy", Type: "limit", Price: "1"}, "enter the amount of BTC, or a total in USDT"},
		{"total under a lot", Ticket{Side: "buy", Type: "limit", Price: "30000", Total: "2"}, "buys less than the smallest amount (0.0001 BTC)"},
		{"total not an amount", Ticket{Side: "buy", Type: "limit", Price: "30000", Total: "-5"}, `total "-5" is not an amount`},
		{"total out of range", Ticket{Side: "buy", Type: "limit", Price: "0.00000001", Total: "90000000000"}, "out of range"},
	}
	for _, c := range refused {
		if _, err := ticketRequest(c.t, m); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
