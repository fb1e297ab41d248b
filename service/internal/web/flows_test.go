package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/ledger"
)

// What a person does on the site, step by step, through the pages.

func signUp(p *tab, email string) {
	p.t.Helper()
	p.open("/signup")
	p.typeIn("#email", email)
	p.typeIn("#password", testPassword)
	p.typeIn("#password_again", testPassword)
	p.submit(`form[action="/signup"] button[type="submit"]`)
	// The page says the same for a new address as for a taken one, and
	// offers to log in with the address filled in.
	p.waitText(".flash.notice", "If this address is new")
	p.typeIn("#password", testPassword)
	p.submit(`form[action="/login"] button[type="submit"]`)
	p.waitText("form[action=\"/logout\"] button", "Log out")
}

func logIn(p *tab, email, password, code string) {
	p.t.Helper()
	p.open("/login")
	p.typeIn("#email", email)
	p.typeIn("#password", password)
	if code != "" {
		p.typeIn("#totp_code", code)
	}
	p.submit(`form[action="/login"] button[type="submit"]`)
}

func logOut(p *tab) {
	p.t.Helper()
	p.submit(`form[action="/logout"] button`)
	p.waitText(".flash.notice", "logged out")
}

func deposit(p *tab, asset, amount, wantNotice string) {
	p.t.Helper()
	p.open("/wallet")
	p.do(chromedp.SetValue(chromedp.CSS("#deposit-asset"), asset))
	p.typeIn("#deposit-amount", amount)
	p.submit("#deposit-form button")
	p.waitText(".flash.notice", wantNotice)
}

// order fills the market page's form and sends it; the page stays.
func order(p *tab, side, price, quantity string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(`label[for="side-` + side + `"]`)))
	p.typeIn("#price", price)
	p.typeIn("#quantity", quantity)
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('order-notice').textContent = ''; document.getElementById('order-error').textContent = ''`))
	p.do(chromedp.Click(chromedp.CSS("#place")))
}

// balanceRow is the wallet page's row of one asset, as text.
func balanceRow(p *tab, asset string) string {
	p.t.Helper()
	return strings.Join(strings.Fields(p.text(`#balances tr[data-asset="`+asset+`"]`)), " ")
}

func checkLedger(t *testing.T, x *exchange) {
	t.Helper()
	v, err := ledger.Check(context.Background(), x.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 0 {
		var b strings.Builder
		ledger.WriteReport(&b, v)
		t.Fatalf("ledger invariants violated:\n%s", b.String())
	}
}
