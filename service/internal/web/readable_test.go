package web_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// A readable market, on a 1366x900 desktop (in India) and a 390x844 phone
// (in New York): prices to the tick and amounts to the lot with thousands
// separators, the points of each column lined up; the book with running
// totals, depth bars, grouping and the spread in %; the chart's readout
// under the pointer; times in the reader's zone, UTC on hover; the market
// switcher, to a market with other decimals.
func TestReadableMarket(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	a := b.tab("A", 1366, 900, false)
	a.timezone("Asia/Kolkata")
	bob := b.tab("B", 390, 844, true)
	bob.timezone("America/New_York")

	signUp(a, x.email("alice"))
	deposit(a, "BTC", "5", "Deposit of 5 BTC credited.")
	deposit(a, "ETH", "10", "Deposit of 10 ETH credited.")
	deposit(a, "USDT", "1,000", "Deposit of 1000 USDT credited.")
	signUp(bob, x.email("bob"))
	deposit(bob, "USDT", "100,000", "Deposit of 100000 USDT credited.")

	// The book: fifteen asks of 0.02 from 40,001 and fifteen bids of 0.01
	// from 1,001; A's own sell of 0.75 at 45,000 lies beyond them.
	a.open("/markets/BTC-USDT")
	a.waitLive()
	a.do(chromedp.Evaluate[chromedp.Void](`(async () => {
		const csrf = document.querySelector('#order-form [name=csrf_token]').value;
		const place = (side, price, quantity) => fetch('/markets/BTC-USDT/orders', { method: 'POST', headers: { Accept: 'application/json' },
			body: new URLSearchParams({ csrf_token: csrf, side, type: 'limit', price: String(price), quantity }) });
		for (let i = 1; i <= 15; i++) {
			await place('sell', 40000 + i, '0.02');
			await place('buy', 1000 + i, '0.01');
		}
		await place('sell', 45000, '0.75');
	})()`, chromedp.EvalAwaitPromise))
	a.waitText("#bids", "1,001.00")
	// Two trades: B buys 0.25 at 30,000 and 0.1234 at 30,000.5 from A.
	bob.open("/markets/BTC-USDT")
	bob.waitLive()
	bob.markPage()
	for _, tr := range [][2]string{{"30000", "0.25"}, {"30000.5", "0.1234"}} {
		order(a, "sell", tr[0], tr[1])
		a.waitText("#order-notice", "is on the book")
		order(bob, "buy", tr[0], tr[1])
		bob.waitText("#order-notice", "filled")
	}

	for _, p := range []*tab{a, bob} {
		p.waitText("#last", "30,000.50")
		p.waitText("#volume", "0.3734")
		p.waitText("#trades", "30,000.50")
		p.waitText("#spread", "Spread 38,986.00 · 190.10%")
		// Prices to the tick (0.01), amounts and totals to the lot (0.0001).
		p.column("#asks td:nth-child(1), #bids td:nth-child(1)", 2)
		p.column("#asks td:nth-child(2), #bids td:nth-child(2)", 4)
		p.column("#asks td:nth-child(3), #bids td:nth-child(3)", 4)
		if got := p.column("#trades td:nth-child(2)", 2); got[0] != "30,000.50" || got[1] != "30,000.00" {
			t.Fatalf("%s: trade prices %q", p.name, got)
		}
		if got := p.column("#trades td:nth-child(3)", 4); got[0] != "0.1234" || got[1] != "0.2500" {
			t.Fatalf("%s: trade amounts %q", p.name, got)
		}
		for _, id := range []string{"#last", "#high", "#low"} {
			if got := p.text(id); !regexp.MustCompile(`^30,000\.[05]0$`).MatchString(got) {
				t.Fatalf("%s: %s shows %q", p.name, id, got)
			}
		}
		// Running totals and depth bars: the asks run to 0.30 and the bids
		// to 0.15, so the deepest ask's bar is full and the bids' half.
		if got := p.rowTexts("#asks tr"); got[0] != "40,015.00 0.0200 0.3000" || got[len(got)-1] != "40,001.00 0.0200 0.0200" {
			t.Fatalf("%s: asks %q", p.name, got)
		}
		if got := p.depths("#bids tr"); got[0] != "3.3%" || got[14] != "50.0%" {
			t.Fatalf("%s: bid depth bars %q", p.name, got)
		}
		if got := p.depths("#asks tr"); got[0] != "100.0%" || got[14] != "6.7%" {
			t.Fatalf("%s: ask depth bars %q", p.name, got)
		}
		// Grouped by 10: bids round down and asks up, with A's 45,000.
		p.choose("#book-group", "10")
		p.waitText("#asks", "45,000")
		if got := p.rowTexts("#asks tr"); strings.Join(got, " | ") != "45,000 0.7500 1.0500 | 40,020 0.1000 0.3000 | 40,010 0.2000 0.2000" {
			t.Fatalf("%s: asks grouped by 10: %q", p.name, got)
		}
		if got := p.rowTexts("#bids tr"); strings.Join(got, " | ") != "1,010 0.0600 0.0600 | 1,000 0.0900 0.1500" {
			t.Fatalf("%s: bids grouped by 10: %q", p.name, got)
		}
		if got := p.depths("#asks tr, #bids tr"); strings.Join(got, " ") != "100.0% 28.6% 19.0% 5.7% 14.3%" {
			t.Fatalf("%s: grouped depth bars %q", p.name, got)
		}
		p.screenshot("book-grouped-" + p.name)
		p.choose("#book-group", "0.01")
		p.waitText("#asks", "40,015.00")
	}
	// A's open order: its price and amount to the tick and the lot.
	a.column("#open-orders td:nth-child(2)", 2)
	a.column("#open-orders td:nth-child(3)", 4)

	// Times in the reader's zone, UTC on hover.
	if a.localTimes("#trades time", "Asia/Kolkata", "15:04:05") != 2 || bob.localTimes("#trades time", "America/New_York", "15:04:05") != 2 {
		t.Fatal("the trades' times are not all shown")
	}
	a.waitText("footer", "UTC+05:30); hover a time for UTC") // ICU may name it Asia/Calcutta

	// The chart: the readout follows the pointer.
	for _, p := range []*tab{a, bob} {
		p.chartReadout(t)
	}
	a.screenshot("market-readable-desktop")
	bob.screenshot("market-readable-phone")
	bob.stillSamePage()

	// The orders page: history and fills to the same decimals, times local.
	a.open("/orders")
	a.column("#order-history td:nth-child(5)", 2)
	a.column("#order-history td:nth-child(7)", 4)
	a.column("#order-history td:nth-child(8)", 2)
	a.column("#fills td:nth-child(5)", 2)
	a.column("#fills td:nth-child(6)", 4)
	if a.localTimes("#order-history time, #fills time", "Asia/Kolkata", "2006-01-02 15:04:05") == 0 {
		t.Fatal("no times in the history")
	}

	// The switcher: every market a click away, the current one marked,
	// live; Escape closes it. ETH-BTC shows 5 decimals of price, 3 of amount.
	a.open("/markets/BTC-USDT")
	a.waitLive()
	a.do(chromedp.Click(chromedp.CSS("#switcher summary")))
	a.waitText(`#switcher-markets tr[aria-current="true"]`, "30,000.50")
	a.screenshot("switcher-desktop")
	a.do(chromedp.KeyEvent(kb.Escape))
	if a.eval(`String(document.getElementById('switcher').open)`) != "false" {
		t.Fatal("Escape left the switcher open")
	}
	a.do(chromedp.Click(chromedp.CSS("#switcher summary")))
	a.submit(`#switcher-markets a[href="/markets/ETH-BTC"]`)
	a.waitText("h1", "ETH/BTC")
	a.waitLive()
	order(a, "sell", "0.05", "1.5")
	a.waitText("#order-notice", "is on the book")
	a.waitText("#asks", "0.05000")
	a.column("#asks td:nth-child(1)", 5)
	a.column("#asks td:nth-child(2)", 3)

	bob.do(chromedp.Click(chromedp.CSS("#switcher summary")))
	bob.submit(`#switcher-markets a[href="/markets/ETH-USDT"]`)
	bob.waitText("h1", "ETH/USDT")
	bob.waitLive()
	bob.waitText("#asks", "No sell orders")
	checkLedger(t, x)
}

// rowTexts is each row's cells, space-separated.
func (p *tab) rowTexts(sel string) []string {
	p.t.Helper()
	var rows []string
	p.evalJSON(`[...document.querySelectorAll(`+quoteJS(sel)+`)].map((tr) => [...tr.cells].map((c) => c.textContent.trim()).join(' '))`, &rows)
	return rows
}

// depths is each row's depth bar, as the stylesheet reads it.
func (p *tab) depths(sel string) []string {
	p.t.Helper()
	var d []string
	p.evalJSON(`[...document.querySelectorAll(`+quoteJS(sel)+`)].map((tr) => tr.style.getPropertyValue('--depth'))`, &d)
	return d
}

var readoutRE = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d) O (30,000\.[05]0) H 30,000\.[05]0 L 30,000\.[05]0 C 30,000\.50 V 0\.\d{4} BTC$`)

// chartReadout points at the chart: at the latest candle the readout
// shows its open, high, low, close and volume (the last trade closed
// it), in the reader's zone; where nothing traded it says so; and the
// crosshair is drawn.
func (p *tab) chartReadout(t *testing.T) {
	t.Helper()
	c := p.box("#chart")
	plotW := c.Width - 74 // the price axis, as chart.js draws it
	slots := max(20, min(100, int(plotW/9)))
	slot := plotW / float64(slots)
	y := c.Top + c.Height/3
	before := p.eval(`document.getElementById('chart').toDataURL()`)
	readout := func() string { return strings.Join(strings.Fields(p.text("#chart-readout")), " ") }
	// The latest candle: in the last slot, or the one before if a minute
	// turned since the trades.
	var got string
	for i := slots - 1; i >= slots-3; i-- {
		p.pointAt(c.Left+(float64(i)+0.5)*slot, y)
		if got = readout(); readoutRE.MatchString(got) {
			break
		}
	}
	m := readoutRE.FindStringSubmatch(got)
	if m == nil {
		p.screenshot("failed-readout-" + p.name)
		t.Fatalf("%s: the chart's readout at the latest candle: %q", p.name, got)
	}
	// The candle's minute, in the reader's zone: the last trade's.
	var last string
	p.evalJSON(`document.querySelector('#trades time').dateTime`, &last)
	at, _ := time.Parse(time.RFC3339Nano, last)
	zone := p.eval(`Intl.DateTimeFormat().resolvedOptions().timeZone`)
	loc, _ := time.LoadLocation(zone)
	if want := at.In(loc).Format("2006-01-02 15:04"); m[1] != want {
		t.Fatalf("%s: the readout's time is %s, want %s (%s)", p.name, m[1], want, zone)
	}
	if p.eval(`document.getElementById('chart').toDataURL()`) == before {
		t.Fatalf("%s: no crosshair drawn under the pointer", p.name)
	}
	p.screenshot("chart-readout-" + p.name)
	p.pointAt(c.Left+slot/2, y)
	if got := readout(); !strings.HasSuffix(got, ": no trades") {
		t.Fatalf("%s: the readout where nothing traded: %q", p.name, got)
	}
}
