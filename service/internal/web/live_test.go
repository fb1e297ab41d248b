package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// The wallet page on a phone follows the admins' decisions without a
// reload: a deposit approved by one admin, then credited; a withdrawal
// approved once, then sent (it used to stay "pending" until a reload).
// Then the phone loses its connection: the page says so and dims what may
// be stale; an admin rejects a withdrawal meanwhile; back online, the page
// resubscribes, reads everything afresh and shows the rejection.
func TestLiveWallet(t *testing.T) {
	x := newExchange(t, config.ModeLive)
	b := newBrowser(t, x.url)
	net := newOutage(t, x.url)
	trader := b.tab("trader", 390, 844, true)
	trader.url, trader.outages = net.URL(), true
	admin := b.tab("admin", 1366, 900, false)
	second := b.tab("second admin", 1366, 900, false)
	signUp(trader, x.email("trader"))
	logIn(admin, x.admin(), testPassword, "")
	logIn(second, x.admin(), testPassword, "")

	deposit(trader, "USDT", "500", "credited once an admin approves it")
	trader.waitLive()
	trader.markPage()
	trader.waitText("#deposits", "pending")
	decide(admin, "#pending-deposits", `button[aria-label^="Approve deposit"]`, "another admin must approve it too")
	trader.waitText("#deposits", "pending · approved by 1 of 2 admins")
	decide(second, "#pending-deposits", `button[aria-label^="Approve deposit"]`, "credited")
	trader.waitText("#deposits tbody tr:first-child", "credited")
	trader.waitText(`#balances tr[data-asset="USDT"] .available`, "500.000000")
	trader.stillSamePage()

	withdraw(trader, "120")
	trader.waitLive()
	trader.markPage()
	if got := balanceRow(trader, "USDT"); got != "USDT 380.000000 120.000000" {
		t.Fatalf("USDT row with a pending withdrawal = %q", got)
	}
	decide(admin, "#pending-withdrawals", `button[aria-label^="Approve withdrawal"]`, "another admin must approve it too")
	trader.waitText("#withdrawals", "pending · approved by 1 of 2 admins")
	decide(second, "#pending-withdrawals", `button[aria-label^="Approve withdrawal"]`, "completed")
	trader.waitText("#withdrawals tbody tr:first-child", "sent")
	trader.waitText(`#balances tr[data-asset="USDT"] .held`, "0.000000")
	trader.stillSamePage()
	trader.screenshot("wallet-live-phone")

	// The connection drops; a decision made meanwhile shows once it is back.
	withdraw(trader, "80")
	trader.waitLive()
	trader.markPage()
	trader.waitText(`#balances tr[data-asset="USDT"] .held`, "80.000000")
	net.cut()
	trader.waitText(`#live[data-state="off"]`, "Disconnected: reconnecting")
	trader.do(chromedp.WaitVisible(chromedp.CSS(`body[data-live="off"]`)))
	// What may be stale is dimmed.
	trader.waitTrue(`getComputedStyle(document.getElementById('withdrawals')).opacity === '0.5'`, "the withdrawals dimmed")
	trader.screenshot("wallet-disconnected-phone")
	admin.open("/admin/wallet")
	admin.typeIn(`#pending-withdrawals form.reject input[name="reason"]`, "address on a watch list")
	admin.submit(`#pending-withdrawals button[aria-label^="Reject withdrawal"]`)
	admin.waitText(".flash.notice", "rejected")
	net.restore()
	trader.waitText("#live", "Live")
	trader.waitText("#withdrawals tbody tr:first-child", "rejected (address on a watch list)")
	trader.waitText(`#balances tr[data-asset="USDT"] .available`, "380.000000")
	trader.waitText(`#balances tr[data-asset="USDT"] .held`, "0.000000")
	trader.stillSamePage()
	checkLedger(t, x)
}

// The orders page (desktop and phone) and the market list (phone) follow
// the orders and tickers without a reload: an order placed from another
// window appears, fills partly, is cancelled and moves to the history;
// fills are listed as they happen; the list's last price and volume move.
// A desktop loses its connection on the orders page and then on the
// market page: each says so, and after it comes back shows what happened
// meanwhile (an order filled; a new level in the book).
func TestLiveOrdersAndMarkets(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	net := newOutage(t, x.url)
	a := b.tab("A", 1366, 900, false)
	a.url, a.outages = net.URL(), true
	bob := b.tab("B", 390, 844, true)
	signUp(a, x.email("alice"))
	deposit(a, "BTC", "2", "Deposit of 2 BTC credited.")
	signUp(bob, x.email("bob"))
	deposit(bob, "USDT", "100,000", "Deposit of 100000 USDT credited.")

	a.open("/orders")
	a.waitLive()
	a.markPage()
	bob.open("/")
	bob.waitLive()
	bob.markPage()
	bob.waitText(`#markets tr[data-market="BTC-USDT"] [data-field="last"]`, "—")

	sell := a.placeFromPage("BTC-USDT", "sell", "30000", "0.5")
	a.waitText(`#open-orders tr[data-id="`+sell+`"]`, "30,000.00")
	a.waitText(`#open-orders tr[data-id="`+sell+`"]`, "0.5000")
	bob.placeFromPage("BTC-USDT", "buy", "30000", "0.2")
	a.waitText(`#open-orders tr[data-id="`+sell+`"]`, "partly filled")
	a.waitText(`#open-orders tr[data-id="`+sell+`"] td:nth-child(6)`, "0.2000")
	a.waitText("#fills", "maker")
	bob.waitText(`#markets tr[data-market="BTC-USDT"] [data-field="last"]`, "30,000.00")
	bob.waitText(`#markets tr[data-market="BTC-USDT"] [data-field="volume"]`, "0.2000")
	bob.stillSamePage()
	bob.screenshot("markets-live-phone")

	a.cancelFromPage(sell)
	a.waitText("#open-orders", "No open orders")
	a.waitText(`#order-history tr[data-id="`+sell+`"]`, "cancelled · by you")
	a.stillSamePage()
	a.screenshot("orders-live-desktop")

	// B's orders page, on the phone: B's buy rests, then fills.
	bob.open("/orders")
	bob.waitLive()
	bob.markPage()
	buy := bob.placeFromPage("BTC-USDT", "buy", "29000", "0.1")
	bob.waitText(`#open-orders tr[data-id="`+buy+`"]`, "29,000.00")
	a.placeFromPage("BTC-USDT", "sell", "29000", "0.1")
	bob.waitText(`#order-history tr[data-id="`+buy+`"]`, "filled")
	bob.waitText("#open-orders", "No open orders")
	bob.waitText("#fills tbody tr:first-child", "29,000.00")
	bob.stillSamePage()

	// A's connection drops while B fills A's order: back online, the page
	// reads the lists afresh.
	late := a.placeFromPage("BTC-USDT", "sell", "31000", "0.3")
	a.waitText(`#open-orders tr[data-id="`+late+`"]`, "31,000.00")
	net.cut()
	a.waitText(`#live[data-state="off"]`, "Disconnected")
	a.screenshot("orders-disconnected-desktop")
	bob.placeFromPage("BTC-USDT", "buy", "31000", "0.3")
	net.restore()
	a.waitText("#live", "Live")
	a.waitText(`#order-history tr[data-id="`+late+`"]`, "filled")
	a.waitText("#open-orders", "No open orders")
	a.stillSamePage()

	// The market page too: a level added while it was cut off shows after.
	a.open("/markets/BTC-USDT")
	a.waitLive()
	a.markPage()
	a.waitText("#last", "31,000.00")
	net.cut()
	a.waitText(`#live[data-state="off"]`, "Disconnected")
	bob.placeFromPage("BTC-USDT", "sell", "35000", "0.05")
	net.restore()
	a.waitText("#live", "Live")
	a.waitText("#asks", "35,000.00")
	a.stillSamePage()
	checkLedger(t, x)
}

// decide opens the admin wallet page and presses a decision's button.
func decide(admin *tab, table, button, notice string) {
	admin.t.Helper()
	admin.open("/admin/wallet")
	admin.submit(table + " " + button)
	admin.waitText(".flash.notice", notice)
}

func withdraw(p *tab, amount string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS("#withdraw-asset"), "USDT"))
	p.typeIn("#withdraw-amount", amount)
	p.typeIn("#withdraw-address", "addr-0001-test")
	p.submit("#withdraw-form button")
	p.waitText(".flash.notice", "Withdrawal of "+amount+" USDT requested")
}

// placeFromPage places a limit order from the page the tab shows, as
// another window of the same trader would: the page is not told, only
// its socket. It returns the order's id.
func (p *tab) placeFromPage(market, side, price, quantity string) string {
	p.t.Helper()
	return p.fetchJSON(`/markets/`+market+`/orders`, `{ side: '`+side+`', type: 'limit', price: '`+price+`', quantity: '`+quantity+`' }`, `out.data.id`)
}

func (p *tab) cancelFromPage(id string) {
	p.t.Helper()
	p.fetchJSON(`/orders/`+id+`/cancel`, `{}`, `out.data.id`)
}

// fetchJSON posts a form to a page handler, asking for JSON, with the
// session's CSRF token (every page has one, in its log-out form), and
// returns pick evaluated on the answer (out).
func (p *tab) fetchJSON(path, fields, pick string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const csrf = document.querySelector('input[name=csrf_token]').value;
		const res = await fetch(`+quoteJS(path)+`, { method: 'POST', headers: { Accept: 'application/json' },
			body: new URLSearchParams(Object.assign({ csrf_token: csrf }, `+fields+`)) });
		const out = await res.json();
		if (!res.ok) return 'refused: ' + JSON.stringify(out);
		return String(`+pick+`);
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || len(got) > 8 && got[:8] == "refused:" {
		p.t.Fatalf("%s: POST %s: %v %s", p.name, path, err, got)
	}
	return got
}
