package web_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// latestRoot waits for a snapshot newer than after to be published and
// returns its id and root.
func latestRoot(t *testing.T, x *exchange, after int64) (int64, string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var row struct {
			ID       int64
			RootHash []byte
		}
		x.db.Raw("SELECT id, root_hash FROM liability_snapshots ORDER BY id DESC LIMIT 1").Scan(&row)
		if row.ID > after {
			return row.ID, hex.EncodeToString(row.RootHash)
		}
	}
	t.Fatal("no snapshot was published")
	return 0, ""
}

// An admin takes a snapshot from the admin page; a trader's browser
// fetches their proof and recomputes it with WebCrypto: "your balance of
// 1.25 BTC is included in root …". A proof changed anywhere is refused
// with what failed; the proof downloads as a JSON file.
func TestProofOfLiabilitiesInTheBrowser(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	b := newBrowser(t, x.url)
	trader := b.tab("trader", 1280, 900, false)
	other := b.tab("other", 1280, 900, false)
	admin := b.tab("admin", 1280, 900, false)
	signUp(trader, x.email("trader"))
	deposit(trader, "BTC", "1.25", "credited")
	signUp(other, x.email("trader"))
	deposit(other, "USDT", "300", "credited")
	deposit(other, "BTC", "0.5", "credited")

	trader.open("/proof")
	trader.waitText("#main", "No snapshot has been published yet")
	trader.do(chromedp.Click(chromedp.CSS("#verify-mine")))
	trader.waitText("#verify-result", "No proof to check: no proof-of-liabilities snapshot has been published yet")

	logIn(admin, x.admin(), testPassword, "")
	admin.open("/admin/proof")
	admin.submit("#take-snapshot")
	admin.waitText(".flash.notice", "Snapshot taken at")
	id, root := latestRoot(t, x, 0)
	admin.open("/admin/proof")
	admin.waitText("#snapshots", root)
	admin.waitText("#snapshots", "1.75 BTC")
	admin.screenshot("admin-proof")

	trader.open("/proof")
	trader.waitText("#latest-root", root)
	trader.waitText("#totals", "1.75")
	trader.do(chromedp.Click(chromedp.CSS("#verify-mine")))
	trader.waitText("#verify-result", "Your balance of 1.25 BTC is included in root "+root[:12]+"…")
	trader.waitText("#verify-result", "2 accounts")
	trader.screenshot("proof-verified")
	other.open("/proof")
	other.do(chromedp.Click(chromedp.CSS("#verify-mine")))
	other.waitText("#verify-result", "Your balances of 0.5 BTC and 300 USDT are included in root "+root[:12])

	// The proof as a file: an attachment, which the paste box checks too.
	file := evalString(t, trader, `fetch('/proof/mine.json').then(async r => r.headers.get('content-disposition') + '\n' + await r.text())`)
	disposition, raw, _ := strings.Cut(file, "\n")
	if !strings.HasPrefix(disposition, "attachment;") || !strings.Contains(disposition, ".json") {
		t.Fatalf("the download is %q", disposition)
	}
	paste(trader, raw)
	trader.waitText("#verify-result", "included in root "+root[:12])

	// Changed anywhere, the proof is refused with the reason.
	for _, c := range []struct {
		name   string
		change func(p map[string]any)
		want   string
	}{
		{"balance", func(p map[string]any) { leaf(p)["balances"].([]any)[0] = "125000001" },
			"Not verified. The path adds up to 1.75000001 BTC, but the snapshot's total is 1.75 BTC"},
		{"nonce", func(p map[string]any) { leaf(p)["nonce"] = strings.Repeat("ab", 32) }, "Not verified. The path leads to root"},
		{"sibling sum", func(p map[string]any) { p["path"].([]any)[0].(map[string]any)["sums"].([]any)[0] = "50000001" },
			"Not verified. The path adds up to"},
		{"sibling hash", func(p map[string]any) { p["path"].([]any)[0].(map[string]any)["hash"] = strings.Repeat("0", 64) },
			"Not verified. The path leads to root"},
		{"negative in disguise", func(p map[string]any) {
			p["path"].([]any)[0].(map[string]any)["sums"].([]any)[0] = "340282366920938463463374607431768211453"
		}, "2^127 or more: a negative amount in disguise"},
		{"root", func(p map[string]any) { p["snapshot"].(map[string]any)["root_hash"] = strings.Repeat("9f", 32) },
			"Not verified. The path leads to root"},
		{"snapshot id", func(p map[string]any) { p["snapshot"].(map[string]any)["id"] = "999" }, "this site publishes no snapshot 999"},
		{"short path", func(p map[string]any) { p["path"] = []any{} }, "The path has 0 steps; a tree of 2 accounts needs 1"},
	} {
		var p map[string]any
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			t.Fatal(err)
		}
		c.change(p)
		changed, _ := json.Marshal(p)
		paste(trader, string(changed))
		trader.waitText("#verify-result", c.want)
	}
	trader.screenshot("proof-refused")

	var audited int64
	x.db.Raw("SELECT count(*) FROM admin_audit WHERE action = 'liabilities_snapshot'").Scan(&audited)
	if audited != 1 || id < 1 {
		t.Fatalf("%d audit rows for the admin's snapshot", audited)
	}
	checkLedger(t, x)
}

func leaf(p map[string]any) map[string]any { return p["leaf"].(map[string]any) }

// paste puts a proof into the paste box and asks for the check.
func paste(p *tab, proof string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS("#proof-text"), proof),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('verify-result').textContent = ''`),
		chromedp.Click(chromedp.CSS("#verify-text")))
}

func evalString(t *testing.T, p *tab, js string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return out
}
