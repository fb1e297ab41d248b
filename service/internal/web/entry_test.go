package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// What a trader sees when entering orders, on a 1366x900 desktop and a
// 390x844 phone: a market order has no price box; every message says what
// the order did (a partly filled IOC order, a market buy by budget, self-
// trade prevention cancelling the trader's own resting order); amounts
// may be typed with thousands separators; refusals use the form's words;
// a total in the quote asset and the 25-100 % buttons fill the form; one
// button cancels every order of the market.
func TestOrderEntry(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	a := b.tab("A", 1366, 900, false)
	bob := b.tab("B", 390, 844, true)

	signUp(a, x.email("alice"))
	deposit(a, "BTC", "2", "Deposit of 2 BTC credited.")
	deposit(a, "USDT", " 100,000 ", "Deposit of 100000 USDT credited.")
	signUp(bob, x.email("bob"))
	deposit(bob, "USDT", "50,000.5", "Deposit of 50000.5 USDT credited.")

	a.open("/markets/BTC-USDT")
	a.waitLive()
	a.markPage()
	// A full book: fifteen levels a side, far from the prices used below.
	a.do(chromedp.Evaluate[chromedp.Void](`(async () => {
		const csrf = document.querySelector('#order-form [name=csrf_token]').value;
		for (let i = 1; i <= 15; i++) {
			for (const [side, price] of [['sell', 40000 + i], ['buy', 1000 + i]]) {
				await fetch('/markets/BTC-USDT/orders', { method: 'POST', headers: { Accept: 'application/json' },
					body: new URLSearchParams({ csrf_token: csrf, side, type: 'limit', price: String(price), quantity: '0.01' }) });
			}
		}
	})()`, chromedp.EvalAwaitPromise))
	a.waitText("#asks", "40,012.00")
	a.waitText("#bids", "1,001.00")
	a.screenshot("entry-full-book-desktop")
	// The book, the whole form and the open orders fit on one screen.
	for _, sel := range []string{"#place", ".book-panel", "#open-title", ".open-orders tbody tr"} {
		if !a.onScreen(sel) {
			a.screenshot("failed-layout")
			t.Fatalf("at 1366x900, %s is not on the first screen", sel)
		}
	}

	// A market order has no price box.
	a.choose("#type", "market")
	if a.visible("#price-field") || a.visible("#price") {
		t.Fatal("the price field shows for a market order")
	}
	a.choose("#type", "limit")
	if !a.visible("#price") {
		t.Fatal("the price field is hidden for a limit order")
	}

	// Spaces and thousands separators are read; the total follows the amount.
	order(a, "sell", " 30,000 ", "0.2")
	a.waitText("#order-notice", "Sell order")
	a.waitText("#order-notice", "placed: 0.2 BTC at 30,000 USDT is on the book.")
	a.waitText("#open-orders", "30,000")

	// B buys 0.3 immediate-or-cancel where only 0.2 is for sale.
	bob.open("/markets/BTC-USDT")
	bob.waitLive()
	bob.markPage()
	bob.waitText("#asks", "30,000.00")
	bob.choose("#time_in_force", "IOC")
	order(bob, "buy", "30000", "0.3")
	bob.waitText("#order-notice", ": 0.2 of 0.3 BTC bought at an average price of 30,000 USDT (fee 0.0004 BTC).")
	bob.waitText("#order-notice", "The other 0.1 BTC was cancelled: an immediate-or-cancel order never rests on the book.")
	bob.waitText("#open-orders", "No open orders")
	bob.choose("#time_in_force", "")
	bob.screenshot("entry-ioc-phone")

	// Self-trade prevention: A's buy meets A's own resting sell.
	order(a, "sell", "28000", "0.1")
	a.waitText("#order-notice", "is on the book")
	order(a, "buy", "28000", "0.1")
	a.waitText("#order-notice", "Self-trade prevention cancelled your resting sell order")
	a.waitText("#order-notice", "(0.1 BTC at 28,000 USDT)")
	a.waitText("#orders-notice", "was cancelled by self-trade prevention")
	a.waitText("#open-orders", "28,000")
	if a.eval(`String([...document.querySelectorAll('#open-orders tr')].some((tr) => /sell.*28,000/.test(tr.textContent)))`) != "false" {
		t.Fatalf("A's sell is still listed after self-trade prevention: %s", a.text("#open-orders"))
	}
	a.screenshot("entry-self-trade-desktop")

	// A limit buy by total: the amount follows the total.
	a.do(chromedp.Click(chromedp.CSS(`label[for="side-buy"]`)))
	a.typeIn("#price", "29000")
	a.typeIn("#total", "2,900")
	if got := a.value("#quantity"); got != "0.1" {
		t.Fatalf("the amount for a total of 2,900 at 29,000 is %q, want 0.1", got)
	}
	a.waitText("#preview", "Cost2,900 USDT")
	a.clearMessages()
	a.do(chromedp.Click(chromedp.CSS("#place")))
	a.waitText("#order-notice", "placed: 0.1 BTC at 29,000 USDT is on the book.")

	// B spends a budget: a market buy by total.
	order(a, "sell", "30000", "0.5")
	a.waitText("#order-notice", "is on the book")
	bob.waitText("#asks", "0.5000")
	bob.choose("#type", "market")
	bob.do(chromedp.Click(chromedp.CSS(`label[for="side-buy"]`)))
	bob.typeIn("#total", "3,000")
	bob.waitText("#preview", "Buys≈ 0.1 BTC")
	bob.clearMessages()
	bob.do(chromedp.Click(chromedp.CSS("#place")))
	bob.waitText("#order-notice", "Market buy order")
	bob.waitText("#order-notice", "filled: 0.1 BTC bought for 3,000 USDT at an average price of 30,000 USDT (fee 0.0002 BTC).")

	// The percent buttons: half of B's 0.2994 BTC (0.3 less the taker
	// fees), rounded down to the lot.
	bob.do(chromedp.Click(chromedp.CSS(`label[for="side-sell"]`)))
	bob.waitText("#avail-base", "0.2994")
	bob.do(chromedp.Click(chromedp.CSS(`#percents button[data-percent="50"]`)))
	if got := bob.value("#quantity"); got != "0.1497" {
		t.Fatalf("50%% of 0.2994 BTC filled in %q, want 0.1497", got)
	}
	if bob.visible("#total") {
		t.Fatal("a market sell shows a total field")
	}

	// Refusals speak of the form's fields.
	bob.typeIn("#quantity", "0.00001")
	bob.clearMessages()
	bob.do(chromedp.Click(chromedp.CSS("#place")))
	bob.waitText("#order-error", "Amount 0.00001 is not a multiple of the lot size 0.0001")
	bob.typeIn("#quantity", "1,5")
	bob.clearMessages()
	bob.do(chromedp.Click(chromedp.CSS("#place")))
	bob.waitText("#order-error", `Amount "1,5" is not an amount we can read`)
	bob.choose("#type", "limit")
	bob.do(chromedp.Click(chromedp.CSS(`label[for="side-buy"]`)))
	bob.typeIn("#price", "30000")
	bob.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('quantity').value = ''`))
	bob.typeIn("#total", "0.0000001")
	bob.clearMessages()
	bob.do(chromedp.Click(chromedp.CSS("#place")))
	bob.waitText("#order-error", "buys less than the smallest amount")
	for _, p := range []*tab{a, bob} {
		if strings.Contains(p.text("#order-error"), "quantity") {
			t.Errorf("%s: an error names an API field: %s", p.name, p.text("#order-error"))
		}
	}
	bob.screenshot("entry-error-phone")

	// Cancel all: the book's thirty, A's buys at 28,000 and 29,000, and
	// the rest of the sell.
	a.waitText("#open-orders", "29,000")
	a.do(chromedp.Click(chromedp.CSS("#cancel-all button")))
	a.waitText("#orders-notice", "Cancelled your 33 open orders in BTC-USDT.")
	a.waitText("#open-orders", "No open orders")
	bob.waitText("#asks", "No sell orders")
	a.stillSamePage()
	bob.stillSamePage()

	// The history says why each order ended.
	a.open("/orders")
	a.waitText("#order-history", "cancelled · self-trade prevention")
	a.waitText("#order-history", "cancelled · by you")
	bob.open("/orders")
	bob.waitText("#order-history", "cancelled · not filled at once")

	// A visitor sees the live market without a form, and no script error.
	c := b.tab("visitor", 1366, 900, false)
	c.open("/markets/BTC-USDT")
	c.waitLive()
	c.waitText(".form-panel", "Log in or sign up to trade")
	checkLedger(t, x)
}

// choose picks an option of a select as a person would: the page hears
// the change.
func (p *tab) choose(sel, value string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector(` + quoteJS(sel) + `); s.value = ` + quoteJS(value) +
		`; s.dispatchEvent(new Event('change', { bubbles: true })); })()`))
}

func (p *tab) value(sel string) string {
	p.t.Helper()
	return p.eval(`document.querySelector(` + quoteJS(sel) + `).value`)
}

// visible reports whether an element takes up room on the page.
func (p *tab) visible(sel string) bool {
	p.t.Helper()
	return p.eval(`(() => { const e = document.querySelector(`+quoteJS(sel)+`); return String(!!e && e.getClientRects().length > 0); })()`) == "true"
}

// onScreen reports whether an element is wholly inside the viewport
// without scrolling.
func (p *tab) onScreen(sel string) bool {
	p.t.Helper()
	return p.eval(`(() => { window.scrollTo(0, 0); const e = document.querySelector(`+quoteJS(sel)+`); if (!e) return 'false';
		const r = e.getBoundingClientRect(); return String(r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth); })()`) == "true"
}

func (p *tab) clearMessages() {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`for (const id of ['order-notice', 'order-error', 'orders-notice', 'orders-error']) { const e = document.getElementById(id); if (e) e.textContent = ''; }`))
}

func (p *tab) eval(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, js, err)
	}
	return s
}
