package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// Two traders sign up and deposit through the pages; A sells from the
// market page, B buys from it on a phone-size screen, and both see the
// trade, the book and their orders change live, without a reload. A then
// cancels the rest of the order. Refusals show the server's message.
func TestTwoTradersOnTheMarketPage(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	a := b.tab("A", 1366, 900, false)
	bob := b.tab("B", 390, 844, true)

	alice, bobEmail := x.email("alice"), x.email("bob")
	signUp(a, alice)
	deposit(a, "BTC", "1", "Deposit of 1 BTC credited.")
	if got := balanceRow(a, "BTC"); got != "BTC 1.00000000 0.00000000" {
		t.Fatalf("A's BTC balance row = %q, want available 1, held 0", got)
	}
	a.screenshot("wallet-desktop")
	signUp(bob, bobEmail)
	deposit(bob, "USDT", "100000", "Deposit of 100000 USDT credited.")
	bob.screenshot("wallet-phone")

	a.open("/markets/BTC-USDT")
	a.waitLive()
	a.markPage()
	order(a, "sell", "30000", "0.5")
	a.waitText("#order-notice", "placed: 0.5 BTC at 30,000 USDT is on the book.")
	a.waitText("#open-orders", "0.5000")
	a.waitText("#asks", "30,000.00")
	a.waitText("#avail-base", "0.5") // 0.5 of 1 BTC now held by the order

	bob.open("/markets/BTC-USDT")
	bob.waitLive()
	bob.markPage()
	bob.waitText("#asks", "30,000.00")

	// An order off the tick is refused with the server's explanation.
	order(bob, "buy", "30000.001", "0.2")
	bob.waitText("#order-error", "not a multiple of the tick size 0.01")
	bob.waitText("#open-orders", "No open orders")

	order(bob, "buy", "30000", "0.2")
	bob.waitText("#order-notice", "filled: 0.2 BTC bought at an average price of 30,000 USDT (fee 0.0004 BTC).")
	for _, p := range []*tab{a, bob} {
		p.waitText("#trades", "30,000.00")
		p.waitText("#trades", "0.2000")
		p.waitText("#last", "30,000.00")
		p.waitText("#asks", "0.3000")
		p.stillSamePage()
	}
	a.waitText("#open-orders", "partly filled")
	// The maker fee (10 bps) is taken from what the seller receives.
	a.waitText("#avail-quote", "5,994")
	a.do(chromedp.WaitVisible(chromedp.CSS("#chart")))
	a.screenshot("market-desktop")
	bob.screenshot("market-phone")

	// A cancels the remaining 0.3; it leaves A's list and B's book live.
	a.do(chromedp.Click(chromedp.CSS(`#open-orders form.cancel button`)))
	a.waitText("#open-orders", "No open orders")
	bob.waitText("#asks", "No sell orders")
	a.waitText("#avail-base", "0.8") // 1 BTC less the 0.2 sold
	a.stillSamePage()
	bob.stillSamePage()

	a.open("/orders")
	a.waitText("#order-history", "cancelled")
	a.waitText("#fills", "maker")
	a.screenshot("orders")
	bob.open("/orders")
	bob.waitText("#fills", "taker")

	// A wrong password is refused in the page.
	c := b.tab("C", 1366, 900, false)
	logIn(c, alice, "not the password at all", "")
	c.waitText(".flash.error", "Wrong email or password")
	c.screenshot("login-error")

	c.open("/")
	c.waitText("table.markets", "30,000.00")
	c.screenshot("markets-desktop")
	bob.open("/")
	bob.screenshot("markets-phone")
	checkLedger(t, x)
}
