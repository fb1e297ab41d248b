package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// A trader turns on two-factor authentication from the account page (QR
// code, confirmed with a current code); from then on logging in takes a
// code. The same trader creates an API key, sees its secret once, and
// revokes it.
func TestTwoFactorAndAPIKeys(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	u := b.tab("U", 1280, 900, false)
	email := x.email("careful")
	signUp(u, email)

	u.open("/account")
	u.waitText("#totp-state", "Off")
	u.submit(`form[action="/account/totp/setup"] button`)
	u.waitText("#totp-state", "Setting up")
	// The QR code is an inline PNG; it must load under the page's CSP.
	loaded, err := chromedp.Run(u.ctx, chromedp.Evaluate[bool](`(() => { const i = document.getElementById('totp-qr'); return i.complete && i.naturalWidth > 0 && i.src.startsWith('data:image/png;base64,'); })()`))
	if err != nil || !loaded {
		t.Fatalf("the QR code did not load (%v)", err)
	}
	secret := u.text("#totp-secret")
	u.screenshot("account-totp-setup")

	u.typeIn("#enable-password", testPassword)
	u.typeIn("#enable-code", wrongCode(t, secret))
	u.submit(`form[action="/account/totp/enable"] button`)
	u.waitText(".flash.error", "two-factor code is wrong")
	u.typeIn("#enable-password", testPassword)
	u.typeIn("#enable-code", code(t, secret, time.Now()))
	u.submit(`form[action="/account/totp/enable"] button`)
	u.waitText("#totp-state", "On")
	u.waitText("#recovery-codes", "shown only now")
	recovery := u.text("#recovery-codes li code")
	u.screenshot("account-totp-on")
	logOut(u)

	logIn(u, email, testPassword, "")
	u.waitText(".flash.error", "two-factor authentication")
	u.do(chromedp.WaitVisible(chromedp.CSS("#totp_code[required]")))
	logIn(u, email, testPassword, wrongCode(t, secret))
	u.waitText(".flash.error", "wrong or was already used")
	// The enabling code's time step is spent; the next step's code is
	// accepted (one step of clock skew is allowed either way).
	logIn(u, email, testPassword, code(t, secret, time.Now().Add(30*time.Second)))
	u.waitText("header nav", "Log out")

	u.open("/api-keys")
	u.do(chromedp.Click(chromedp.CSS("#scope-trade")))
	u.typeIn("#label", "my bot")
	// A new key needs a two-factor code again; this step's code went to
	// the login, so a recovery code stands in.
	u.typeIn("#apikeys-stepup-code", recovery)
	u.submit(`form[action="/api-keys"] button`)
	u.waitText("#created-title", "copy the secret now")
	keyID, keySecret := u.text("#new-key-id"), u.text("#new-key-secret")
	if !strings.HasPrefix(keyID, "ak_") || len(keySecret) < 40 {
		t.Fatalf("new key %q with secret of %d characters", keyID, len(keySecret))
	}
	u.waitText("#keys", "read, trade")
	u.screenshot("apikeys-created")
	u.open("/api-keys")
	if strings.Contains(u.text("main"), keySecret) {
		t.Fatal("the API key secret is shown again")
	}
	u.submit(`#keys button[aria-label="Revoke key ` + keyID + `"]`)
	u.waitText(".flash.notice", "revoked")
	u.waitText("#keys", "revoked")
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a code that no step near now has.
func wrongCode(t *testing.T, secret string) string {
	near := map[string]bool{}
	for d := -2; d <= 2; d++ {
		near[code(t, secret, time.Now().Add(time.Duration(d)*30*time.Second))] = true
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n); !near[c] {
			return c
		}
	}
}
