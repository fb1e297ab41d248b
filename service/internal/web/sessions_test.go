package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// A trader cancels a pending withdrawal from the wallet on a phone; the
// same withdrawal cancelled from another window shows on the phone
// without a reload. The account page lists the trader's sessions (this
// device marked) and the login history (a wrong password included); one
// session signed out from the desktop stops the phone's live page at
// once, and "sign out everywhere else" ends the rest.
func TestCancelWithdrawalAndSessions(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	phone := b.tab("phone", 390, 844, true)
	desk := b.tab("desktop", 1366, 900, false)
	email := x.email("trader")
	signUp(phone, email)
	logIn(desk, email, "a wrong password, surely", "")
	desk.waitText(".flash.error", "Wrong email or password")
	logIn(desk, email, testPassword, "")
	desk.waitText("header nav", "Log out")

	deposit(phone, "USDT", "500", "credited")
	withdraw(phone, "120")
	phone.waitText(`#balances tr[data-asset="USDT"] .held`, "120.000000")
	phone.waitLive() // the script has drawn the table it reads afresh
	phone.submit(`#withdrawals button[aria-label^="Cancel withdrawal"]`)
	phone.waitText(".flash.notice", "Withdrawal of 120 USDT cancelled")
	phone.waitText("#withdrawals tbody tr:first-child", "cancelled by you")
	phone.waitText(`#balances tr[data-asset="USDT"] .available`, "500.000000")
	phone.waitText(`#balances tr[data-asset="USDT"] .held`, "0.000000")

	// Cancelled from the desktop, the phone's wallet follows live.
	withdraw(phone, "80")
	phone.waitLive()
	phone.markPage()
	desk.open("/wallet")
	desk.waitLive()
	desk.submit(`#withdrawals button[aria-label^="Cancel withdrawal"]`)
	desk.waitText(".flash.notice", "cancelled")
	phone.waitText("#withdrawals tbody tr:first-child", "cancelled by you")
	phone.waitText(`#balances tr[data-asset="USDT"] .held`, "0.000000")
	phone.waitTrue(`!document.querySelector('#withdrawals button')`, "no Cancel button left")
	phone.stillSamePage()
	checkLedger(t, x)

	desk.open("/account")
	if n := strings.Count(desk.text("#sessions tbody"), "Sign out"); n != 1 {
		t.Fatalf("the desktop's account page offers %d other sessions to sign out, want 1: %s", n, desk.text("#sessions"))
	}
	desk.waitText(`#sessions tr[aria-current="true"]`, "this device")
	desk.waitText(`#sessions tr[aria-current="true"]`, "Headless Chrome on Linux")
	desk.waitText("#logins tbody tr:first-child", "signed in")
	desk.waitText("#logins tbody tr:nth-child(2)", "wrong password")
	desk.waitText("#logins", "127.0.0.1")
	if strings.Contains(desk.text("#logins"), "surely") {
		t.Fatal("the login history shows a typed password")
	}
	desk.screenshot("account-sessions")

	// The phone's wallet is live; signing its session out ends that.
	phone.open("/wallet")
	phone.waitLive()
	desk.submit(`#sessions button[aria-label^="Sign out"]`)
	desk.waitText(".flash.notice", "signed out")
	phone.waitText("#live", "Signed out")
	phone.open("/wallet")
	phone.waitText("main", "Log in")

	// Two more sessions; "sign out everywhere else" ends both.
	logIn(phone, email, testPassword, "")
	third := b.tab("third", 1366, 900, false)
	logIn(third, email, testPassword, "")
	desk.open("/account")
	desk.submit("#revoke-others")
	desk.waitText(".flash.notice", "2 other sessions ended")
	third.open("/wallet")
	third.waitText("main", "Log in")
	desk.open("/account")
	if got := desk.text("#sessions tbody"); strings.Contains(got, "Sign out") {
		t.Fatalf("sessions left after signing out everywhere else: %s", got)
	}
}

// The same without JavaScript: the wallet's Cancel button and the
// account's sign-out buttons are plain forms with the CSRF token; without
// it, or with a forged one, nothing happens; another trader's withdrawal
// or session is not found; a second cancel says the withdrawal is
// already cancelled.
func TestAccountFormsWithoutJavaScript(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	alice, mallory := newVisitor(t, x), newVisitor(t, x)
	csrf := signUpVisitor(t, alice, "alice@example.com")
	evil := signUpVisitor(t, mallory, "mallory@example.com")
	alice.post("/wallet/deposits", url.Values{"csrf_token": {csrf}, "asset": {"BTC"}, "amount": {"1"}}, "/wallet")
	alice.post("/wallet/withdrawals", url.Values{"csrf_token": {csrf}, "asset": {"BTC"}, "amount": {"0.25"}, "address": {"bc1qexampleaddress"}}, "/wallet")
	_, wallet := alice.get("/wallet")
	m := regexp.MustCompile(`action="(/wallet/withdrawals/\d+/cancel)"`).FindStringSubmatch(wallet)
	if m == nil {
		t.Fatalf("no Cancel form for the pending withdrawal: %.2000s", wallet)
	}
	cancel := m[1]
	for _, form := range []url.Values{{}, {"csrf_token": {"forged"}}} {
		if status, _, _ := alice.send("POST", cancel, form, nil); status != http.StatusForbidden {
			t.Fatalf("cancel with token %q: %d, want 403", form.Get("csrf_token"), status)
		}
	}
	mallory.post(cancel, url.Values{"csrf_token": {evil}}, "/wallet")
	if _, page := mallory.get("/wallet"); !strings.Contains(page, "not found") {
		t.Fatalf("another trader's cancel: %.500s", page)
	}
	alice.post(cancel, url.Values{"csrf_token": {csrf}}, "/wallet")
	if _, page := alice.get("/wallet"); !strings.Contains(page, "Withdrawal of 0.25 BTC cancelled") || !strings.Contains(page, "cancelled by you") ||
		strings.Contains(page, `action="`+cancel+`"`) {
		t.Fatalf("the wallet after the cancel: %.3000s", page)
	}
	alice.post(cancel, url.Values{"csrf_token": {csrf}}, "/wallet")
	if _, page := alice.get("/wallet"); !strings.Contains(page, "already cancelled") {
		t.Fatalf("a second cancel: %.500s", page)
	}

	second := newVisitor(t, x)
	_, login := second.get("/login")
	second.post("/login", url.Values{"csrf_token": {token(t, login)}, "email": {"alice@example.com"}, "password": {testPassword}}, "/")
	_, account := alice.get("/account")
	m = regexp.MustCompile(`action="(/account/sessions/\d+/revoke)"`).FindStringSubmatch(account)
	if m == nil {
		t.Fatalf("no sign-out form for the second session: %.3000s", account)
	}
	if status, _, _ := alice.send("POST", m[1], url.Values{}, nil); status != http.StatusForbidden {
		t.Fatalf("sign-out without the token: %d", status)
	}
	mallory.post(m[1], url.Values{"csrf_token": {evil}}, "/account")
	if status, _, _ := second.send("GET", "/wallet", nil, nil); status != http.StatusOK {
		t.Fatalf("another trader signed the session out: %d", status)
	}
	alice.post(m[1], url.Values{"csrf_token": {csrf}}, "/account")
	if status, _, _ := second.send("GET", "/wallet", nil, nil); status != http.StatusSeeOther {
		t.Fatalf("the signed-out session still opens the wallet: %d", status)
	}
	checkLedger(t, x)
}
