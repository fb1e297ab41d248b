package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// Every page of the site, as a visitor, a trader and an admin, on a
// 390x844 phone and a 1366x900 desktop, with content in every table: no
// page is wider than the screen (nothing makes the page scroll sideways;
// wide tables scroll inside their own box), the phone's menu is one line,
// and axe-core finds nothing (WCAG 2.2 A and AA, and best practices).
func TestEveryPageFitsAndIsAccessible(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	axeScript(t) // fail first if the checker cannot be had
	sizes := []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"phone", 390, 844, true}, {"desktop", 1366, 900, false}}

	// Content for every table: balances, a deposit, a pending withdrawal,
	// open and filled orders, fills, an API key, a proof snapshot, users.
	trader, other := x.email("trader"), x.email("trader")
	seller := b.tab("seller", 1366, 900, false)
	signUp(seller, other)
	deposit(seller, "BTC", "2", "credited")
	setup := b.tab("setup", 1366, 900, false)
	signUp(setup, trader)
	deposit(setup, "USDT", "100000", "credited")
	withdraw(setup, "120")
	seller.open("/markets/BTC-USDT")
	seller.placeFromPage("BTC-USDT", "sell", "30000", "0.5")
	setup.open("/markets/BTC-USDT")
	setup.placeFromPage("BTC-USDT", "buy", "30000", "0.2")
	setup.placeFromPage("BTC-USDT", "buy", "29000.5", "0.1")
	setup.open("/api-keys")
	setup.typeIn("#label", "a bot with a long descriptive label")
	setup.submit(`form[action="/api-keys"] button`)
	setup.waitText("#created-title", "copy the secret now")
	admin := x.admin()
	snap := b.tab("snapshot", 1366, 900, false)
	logIn(snap, admin, testPassword, "")
	snap.open("/admin/proof")
	snap.submit("#take-snapshot")
	snap.waitText(".flash.notice", "Snapshot taken at")

	roles := []struct {
		name  string
		login string
		pages []string
	}{
		{"visitor", "", []string{"/", "/markets/BTC-USDT", "/login", "/signup", "/proof", "/markets/NOPE-USDT"}},
		{"trader", trader, []string{"/", "/markets/BTC-USDT", "/markets/ETH-BTC", "/wallet", "/orders", "/api-keys", "/account", "/proof"}},
		{"admin", admin, []string{"/admin/wallet", "/admin/markets", "/admin/users", "/admin/proof", "/account"}},
	}
	checked := 0
	for _, size := range sizes {
		for _, role := range roles {
			p := b.tab(role.name+" "+size.name, size.width, size.height, size.mobile)
			if role.login != "" {
				logIn(p, role.login, testPassword, "")
				p.waitText("header nav", "Log out")
			}
			for _, path := range role.pages {
				p.open(path)
				if p.eval(`String(!!document.getElementById('live') && !!document.querySelector('script[src*="live.js"]'))`) == "true" {
					p.waitLive()
				}
				what := path + " as " + role.name
				p.fits(what, size.width)
				if size.mobile {
					p.compactMenu(what)
				}
				p.accessible(what)
				if size.mobile && role.name != "visitor" {
					p.screenshot("phone-" + role.name + strings.NewReplacer("/", "-").Replace(path))
				}
				checked++
			}
			if role.name == "trader" && size.mobile {
				p.sectionsOneTapAway()
			}
		}
	}
	t.Logf("%d page views checked for width and with axe-core", checked)
}

// fits fails when the page is wider than its viewport, naming the
// elements that stick out (outside any box that scrolls them).
func (p *tab) fits(what string, width int64) {
	p.t.Helper()
	var r struct {
		Doc, Body, View float64
		Out             []string
	}
	p.evalJSON(`(() => {
		const view = document.documentElement.clientWidth;
		// An element inside a box that scrolls or clips does not widen the
		// page, unless it is placed absolutely against something outside
		// that box (a hidden label escaping a table's wrapper): those are
		// named first.
		const clipped = (e) => { if (getComputedStyle(e).position === 'absolute') return false;
			for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
				if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
		const out = [...document.querySelectorAll('body *')].filter((e) => {
			const b = e.getBoundingClientRect(); return b.width > 0 && b.right > view + 0.5 && !clipped(e); })
			.slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
				+ ' "' + e.textContent.trim().slice(0, 30) + '" right ' + Math.round(e.getBoundingClientRect().right));
		return { Doc: document.documentElement.scrollWidth, Body: document.body.scrollWidth, View: view, Out: out };
	})()`, &r)
	if r.View > float64(width) || r.Doc > r.View || r.Body > r.View {
		p.screenshot("failed-width-" + p.name + strings.NewReplacer("/", "_").Replace(what))
		p.t.Errorf("%s: %s is %v px wide (body %v) in a %v px viewport (screen %d); sticking out: %s",
			p.name, what, r.Doc, r.Body, r.View, width, strings.Join(r.Out, "; "))
	}
}

// compactMenu fails when the phone's top bar takes more than one line.
func (p *tab) compactMenu(what string) {
	p.t.Helper()
	var h float64
	p.evalJSON(`document.querySelector('header.top').getBoundingClientRect().height`, &h)
	if h > 56 {
		p.screenshot("failed-menu-" + p.name)
		p.t.Errorf("%s: the top bar of %s is %v px high: more than one line", p.name, what, h)
	}
}

// sectionsOneTapAway taps each entry of the market page's section bar on
// a phone: the section it names comes to the top of the screen, under
// the bar, which stays in view.
func (p *tab) sectionsOneTapAway() {
	p.t.Helper()
	p.open("/markets/BTC-USDT")
	p.waitLive()
	for _, id := range []string{"book-panel", "form-panel", "orders-panel", "chart-panel", "trades-panel"} {
		p.do(chromedp.Click(chromedp.CSS(`.sections a[href="#` + id + `"]`)))
		p.waitTrue(fmt.Sprintf(`(() => { const s = document.getElementById(%q).getBoundingClientRect();
			const bar = document.querySelector('.sections').getBoundingClientRect();
			const bottom = scrollY + innerHeight >= document.documentElement.scrollHeight - 1;
			return bar.top >= 0 && bar.bottom <= s.top + 1 && (s.top < bar.bottom + 40 || bottom && s.top < innerHeight - 100); })()`, id), id+" at the top under the section bar")
		if id == "book-panel" {
			p.screenshot("market-book-tab-phone")
		}
	}
	p.do(chromedp.Click(chromedp.CSS(`.sections a[href="#form-panel"]`)))
	p.waitTrue(`(() => { const r = document.getElementById('place').getBoundingClientRect(); return r.bottom <= innerHeight && r.top >= 0; })()`,
		"the Buy button on the screen with the form")
}
