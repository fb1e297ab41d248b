package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// On a live exchange a trader's deposit waits for the admins, and so does
// a withdrawal; two admins approve both from the admin pages (four eyes),
// one halts and resumes a market, and freezes the trader.
func TestAdminPages(t *testing.T) {
	x := newExchange(t, config.ModeLive)
	b := newBrowser(t, x.url)
	trader := b.tab("trader", 1280, 900, false)
	admin := b.tab("admin", 1280, 900, false)
	traderEmail := x.email("trader")
	signUp(trader, traderEmail)
	deposit(trader, "USDT", "500", "credited once an admin approves it")
	trader.waitText("#deposits", "pending")

	logIn(admin, x.admin(), testPassword, "")
	second := b.tab("second admin", 1280, 900, false)
	logIn(second, x.admin(), testPassword, "")
	admin.open("/admin/wallet")
	admin.waitText("#pending-deposits", "500")
	admin.submit(`#pending-deposits button[aria-label^="Approve deposit"]`)
	admin.waitText(".flash.notice", "another admin must approve it too")
	admin.waitText("#pending-deposits", "1 of 2")
	second.open("/admin/wallet")
	second.submit(`#pending-deposits button[aria-label^="Approve deposit"]`)
	second.waitText(".flash.notice", "credited")
	admin.open("/admin/wallet")
	admin.waitText("#pending-deposits", "No deposits wait for review")

	trader.open("/wallet")
	if got := balanceRow(trader, "USDT"); got != "USDT 500.000000 0.000000" {
		t.Fatalf("USDT row after the approval = %q", got)
	}
	trader.typeIn("#withdraw-amount", "120")
	trader.do(chromedp.SetValue(chromedp.CSS("#withdraw-asset"), "USDT"))
	trader.typeIn("#withdraw-address", "addr-0001-test")
	trader.submit("#withdraw-form button")
	trader.waitText(".flash.notice", "Withdrawal of 120 USDT requested")
	if got := balanceRow(trader, "USDT"); got != "USDT 380.000000 120.000000" {
		t.Fatalf("USDT row with a pending withdrawal = %q", got)
	}
	// A withdrawal over the balance is refused in the page.
	trader.typeIn("#withdraw-amount", "1000")
	trader.do(chromedp.SetValue(chromedp.CSS("#withdraw-asset"), "USDT"))
	trader.typeIn("#withdraw-address", "addr-0001-test")
	trader.submit("#withdraw-form button")
	trader.waitText(".flash.error", "Available 380 USDT, needs 1000 USDT")

	admin.open("/admin/wallet")
	admin.waitText("#pending-withdrawals", "addr-0001-test")
	admin.screenshot("admin-wallet")
	admin.submit(`#pending-withdrawals button[aria-label^="Approve withdrawal"]`)
	admin.waitText(".flash.notice", "another admin must approve it too")
	second.open("/admin/wallet")
	second.submit(`#pending-withdrawals button[aria-label^="Approve withdrawal"]`)
	second.waitText(".flash.notice", "completed")
	admin.open("/admin/wallet")
	admin.waitText("#pending-withdrawals", "No withdrawals wait for review")

	trader.open("/wallet")
	trader.waitText("#withdrawals", "sent")
	if got := balanceRow(trader, "USDT"); got != "USDT 380.000000 0.000000" {
		t.Fatalf("USDT row after the withdrawal = %q", got)
	}

	admin.open("/admin/markets")
	admin.submit(`button[aria-label="Halt BTC-USDT"]`)
	admin.waitText(`tr[data-market="BTC-USDT"]`, "halted")
	admin.screenshot("admin-markets")
	trader.open("/markets/BTC-USDT")
	trader.waitLive()
	order(trader, "buy", "100", "0.1")
	trader.waitText("#order-error", "Market BTC-USDT is halted")
	admin.submit(`button[aria-label="Resume BTC-USDT"]`)
	admin.waitText(`tr[data-market="BTC-USDT"]`, "open")
	order(trader, "buy", "100", "0.1")
	trader.waitText("#order-notice", "placed: 0.1 BTC at 100 USDT is on the book.")

	admin.open("/admin/users?q=trader")
	admin.submit(`button[aria-label="Freeze ` + traderEmail + `"]`)
	admin.waitText("#users", "frozen")
	admin.screenshot("admin-users")
	trader.open("/wallet")
	trader.waitText("h1", "Log in") // a frozen user's session has ended
	logIn(trader, traderEmail, testPassword, "")
	trader.waitText(".flash.error", "frozen")
	checkLedger(t, x)
}
