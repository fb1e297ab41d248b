package web

import (
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// Columns show each figure to the market's tick or lot, padded, with
// thousands separators, and never lose a digit.
func TestFigures(t *testing.T) {
	l := catalog.Defaults()
	f := figuresOf(l.Markets, l.Assets)
	amt := func(s string) *money.Amount { a := money.MustParse(s); return &a }
	for _, c := range []struct{ got, want string }{
		{f.Price("BTC-USDT", amt("30000")), "30,000.00"},
		{f.Price("BTC-USDT", amt("30000.5")), "30,000.50"},
		{f.Price("BTC-USDT", amt("30000.123456")), "30,000.123456"}, // an average price finer than the tick: exact
		{f.Price("ETH-BTC", amt("0.05")), "0.05000"},
		{f.Amount("BTC-USDT", money.MustParse("0.2")), "0.2000"},
		{f.Amount("ETH-BTC", money.MustParse("1234.5")), "1,234.500"},
		{f.Total("BTC-USDT", money.MustParse("6000")), "6,000.000000"},
		{f.Asset("USDT", money.MustParse("380")), "380.000000"},
		{f.Asset("BTC", money.MustParse("1")), "1.00000000"},
		{f.Price("BTC-USDT", (*money.Amount)(nil)), "—"},
		{f.Price("BTC-USDT", nil), "—"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if j := f.JSON(); !strings.Contains(j, `"BTC-USDT":{"base":"BTC","quote":"USDT","price":2,"amount":4}`) || !strings.Contains(j, `"USDT":6`) {
		t.Errorf("figures for the scripts: %s", j)
	}
}

// The book before the script takes over: running totals from the best
// price, asks drawn highest first; grouping steps of 1, 10, 100 and 1000
// ticks.
func TestBookRows(t *testing.T) {
	m := money.MustParse
	asks := bookSide([][2]money.Amount{{m("100"), m("1")}, {m("101"), m("2")}, {m("102"), m("0.5")}}, true)
	if asks[0] != (bookRow{m("102"), m("0.5"), m("3.5")}) || asks[2] != (bookRow{m("100"), m("1"), m("1")}) {
		t.Errorf("asks %v", asks)
	}
	bids := bookSide([][2]money.Amount{{m("99"), m("1")}, {m("98"), m("2")}}, false)
	if bids[1].Total != m("3") {
		t.Errorf("bids %v", bids)
	}
	var labels []string
	for _, g := range groupSteps(catalog.Defaults().Markets[0]) {
		labels = append(labels, g.Label+"="+g.Step.String())
	}
	if got := strings.Join(labels, " "); got != "0.01=0.01 0.1=0.1 1=1 10=10" {
		t.Errorf("group steps %s", got)
	}
}

// Times are UTC in the markup (the script shows them in the reader's
// zone), with UTC on hover.
func TestTimes(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 3, 9, 0, time.FixedZone("X", 3600))
	if got := string(when(at)); got != `<time datetime="2024-05-01T11:03:09Z" title="2024-05-01 11:03:09 UTC">2024-05-01 11:03:09 UTC</time>` {
		t.Errorf("when: %s", got)
	}
	if got := string(clock(at)); got != `<time datetime="2024-05-01T11:03:09Z" data-kind="clock" title="2024-05-01 11:03:09 UTC">11:03:09</time>` {
		t.Errorf("clock: %s", got)
	}
}

// Deposits and withdrawals in the site's words, the first of two
// approvals included.
func TestTransferWords(t *testing.T) {
	admin := int64(3)
	for _, c := range []struct{ got, want string }{
		{withdrawalLabel(transfers.Withdrawal{Status: transfers.WithdrawalPending}), "pending"},
		{withdrawalLabel(transfers.Withdrawal{Status: transfers.WithdrawalPending, ApprovedBy: &admin}), "pending · approved by 1 of 2 admins"},
		{withdrawalLabel(transfers.Withdrawal{Status: transfers.WithdrawalCompleted, ApprovedBy: &admin}), "sent"},
		{depositLabel(transfers.Deposit{Status: transfers.DepositCredited}), "credited"},
		{depositLabel(transfers.Deposit{Status: transfers.DepositRejected}), "rejected"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if j := walletWordsJSON(); !strings.Contains(j, `"completed":"sent"`) || !strings.Contains(j, `"approved_once":"approved by 1 of 2 admins"`) {
		t.Errorf("wallet words for the script: %s", j)
	}
}
