package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

type depositJSON struct{ ID, Asset, Amount, Status string }
type withdrawalJSON struct{ ID, Asset, Amount, Status, Reason string }

// The end-to-end slice: sign up, demo deposit, withdraw, an admin
// approves, and the books still balance.
func TestSignUpDepositWithdrawApprove(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	alice := x.trader()
	var d depositJSON
	alice.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1.5"}, 201, &d)
	if d.Status != "credited" || d.Amount != "1.5" {
		t.Fatalf("demo deposit = %+v, want credited 1.5", d)
	}
	var w withdrawalJSON
	alice.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "0.4", "address": "bc1qexampleaddress"}, 201, &w)
	if w.Status != "pending" {
		t.Fatalf("withdrawal = %+v", w)
	}
	if av, held := alice.balance("BTC"); av != "1.1" || held != "0.4" {
		t.Fatalf("after request: available %s held %s, want 1.1 / 0.4", av, held)
	}

	admin, second := x.admin(), x.admin()
	var pending struct{ Data []withdrawalJSON }
	admin.mustJSON("GET", "/api/v1/admin/withdrawals?status=pending", nil, 200, &pending)
	if len(pending.Data) != 1 || pending.Data[0].ID != w.ID {
		t.Fatalf("pending withdrawals = %+v", pending)
	}
	// Four eyes: the first approval is recorded, the second sends.
	admin.mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 200, &w)
	if w.Status != "pending" {
		t.Fatalf("after one approval = %+v, want still pending", w)
	}
	second.mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 200, &w)
	if w.Status != "completed" {
		t.Fatalf("approved withdrawal = %+v", w)
	}
	if av, held := alice.balance("BTC"); av != "1.1" || held != "0" {
		t.Fatalf("after approval: available %s held %s, want 1.1 / 0", av, held)
	}
	admin.wantError("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 409, "conflict")
	x.checkLedger()
}

func TestLiveDepositWaitsForAdmin(t *testing.T) {
	x := newExchange(t, config.ModeLive)
	bob := x.trader()
	var d depositJSON
	bob.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "USDT", "amount": "250.25"}, 201, &d)
	if d.Status != "pending" {
		t.Fatalf("live deposit = %+v, want pending", d)
	}
	if av, _ := bob.balance("USDT"); av != "0" {
		t.Fatalf("pending deposit credited early: %s", av)
	}
	bob.wantError("POST", "/api/v1/admin/deposits/"+d.ID+"/approve", nil, 403, "forbidden")

	admin, other := x.admin(), x.admin()
	var second depositJSON
	bob.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "USDT", "amount": "1"}, 201, &second)
	admin.mustJSON("POST", "/api/v1/admin/deposits/"+d.ID+"/approve", nil, 200, &d)
	if av, _ := bob.balance("USDT"); d.Status != "pending" || av != "0" {
		t.Fatalf("one approval credited: %+v, available %s", d, av)
	}
	other.mustJSON("POST", "/api/v1/admin/deposits/"+d.ID+"/approve", nil, 200, &d)
	admin.mustJSON("POST", "/api/v1/admin/deposits/"+second.ID+"/reject", nil, 200, &second)
	if d.Status != "credited" || second.Status != "rejected" {
		t.Fatalf("reviewed = %+v / %+v", d, second)
	}
	if av, _ := bob.balance("USDT"); av != "250.25" {
		t.Fatalf("after approval available = %s, want 250.25", av)
	}
	admin.wantError("POST", "/api/v1/admin/deposits/999999/approve", nil, 404, "not_found")
	x.checkLedger()
}

func TestRejectedWithdrawalReturnsFunds(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "ETH", "amount": "3"}, 201, nil)
	var w withdrawalJSON
	c.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "ETH", "amount": "2", "address": "0xabcdef0123456789"}, 201, &w)
	admin := x.admin()
	admin.wantError("POST", "/api/v1/admin/withdrawals/"+w.ID+"/reject", map[string]string{"reason": ""}, 400, "invalid_request")
	admin.mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/reject", map[string]string{"reason": "address on a sanctions list"}, 200, &w)
	if w.Status != "rejected" || w.Reason == "" {
		t.Fatalf("rejected = %+v", w)
	}
	if av, held := c.balance("ETH"); av != "3" || held != "0" {
		t.Fatalf("after rejection: %s / %s, want 3 / 0", av, held)
	}
	x.checkLedger()
}

func TestDailyWithdrawalLimit(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "25"}, 201, nil)
	// BTC's daily limit is 10: a rejected withdrawal frees its share again.
	var w withdrawalJSON
	c.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "6", "address": "bc1qexampleaddress"}, 201, &w)
	msg := c.wantError("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "4.00000001", "address": "bc1qexampleaddress"}, 400, "limit_exceeded")
	if !strings.Contains(msg, "4 left today") {
		t.Fatalf("message %q should say what is left", msg)
	}
	c.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "4", "address": "bc1qexampleaddress"}, 201, nil)
	x.admin().mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/reject", map[string]string{"reason": "customer asked"}, 200, nil)
	c.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "6", "address": "bc1qexampleaddress"}, 201, nil)
	x.checkLedger()
}

// 1,000 concurrent withdrawals of 1 against a balance of 500: exactly 500
// succeed, the rest get insufficient_funds, and nothing goes negative.
func TestConcurrentWithdrawalsNeverOverdraw(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "USDT", "amount": "500"}, 201, nil)
	const requests = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	codes := map[string]int{}
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := c.do("POST", "/api/v1/withdrawals", map[string]string{"asset": "USDT", "amount": "1", "address": "TXexampleaddress"})
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status != 201 {
				codes[string(body)]++
			}
		}()
	}
	wg.Wait()
	if statuses[201] != 500 || statuses[400] != 500 {
		t.Fatalf("statuses = %v (errors %v), want 500 x 201 and 500 x 400", statuses, codes)
	}
	for body := range codes {
		if !strings.Contains(body, `"insufficient_funds"`) {
			t.Fatalf("unexpected error %s", body)
		}
	}
	if av, held := c.balance("USDT"); av != "0" || held != "500" {
		t.Fatalf("balance %s / %s, want 0 / 500", av, held)
	}
	x.checkLedger()
}

// Every kind of bad input gets its 4xx and code, and no row changes.
func TestBadInputLeavesDatabaseUnchanged(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1"}, 201, nil)
	before := pgtest.Checksums(t, x.db)
	addr := "bc1qexampleaddress"
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", "/api/v1/deposits", `{"asset": "BTC", "amount": `, 400, "invalid_json"},
		{"not an object", "/api/v1/deposits", `["BTC"]`, 400, "invalid_json"},
		{"empty body", "/api/v1/deposits", ``, 400, "invalid_json"},
		{"trailing data", "/api/v1/deposits", `{"asset":"BTC","amount":"1"} {}`, 400, "invalid_json"},
		{"unknown field", "/api/v1/deposits", `{"asset":"BTC","amount":"1","memo":"x"}`, 400, "unknown_field"},
		{"amount as number", "/api/v1/deposits", `{"asset":"BTC","amount":1}`, 400, "invalid_amount"},
		{"too many decimals", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "0.000000001"}, 400, "invalid_amount"},
		{"beyond asset precision", "/api/v1/deposits", map[string]string{"asset": "USDT", "amount": "1.0000001"}, 400, "invalid_amount"},
		{"negative amount", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "-1"}, 400, "invalid_amount"},
		{"zero amount", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "0"}, 400, "invalid_amount"},
		{"exponent", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "1e3"}, 400, "invalid_amount"},
		{"huge amount", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "100000000000"}, 400, "invalid_amount"},
		{"unknown asset", "/api/v1/deposits", map[string]string{"asset": "DOGE", "amount": "1"}, 400, "unknown_asset"},
		{"withdraw more than held", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "1.00000001", "address": addr}, 400, "insufficient_funds"},
		{"withdraw bad address", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "0.1", "address": "x; DROP TABLE"}, 400, "invalid_address"},
		{"withdraw negative", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "-0.1", "address": addr}, 400, "invalid_amount"},
		{"withdraw unknown asset", "/api/v1/withdrawals", map[string]string{"asset": "XRP", "amount": "1", "address": addr}, 400, "unknown_asset"},
		{"oversize body", "/api/v1/deposits", `{"asset":"BTC","amount":"1","pad":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.wantError("POST", tc.path, tc.body, tc.status, tc.code)
		})
	}
	status, body := c.doWithHeaders("POST", "/api/v1/deposits", "asset=BTC&amount=1", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "unsupported_media_type") {
		t.Fatalf("form body: %d %s", status, body)
	}
	after := pgtest.Checksums(t, x.db)
	for table, sum := range before {
		if after[table] != sum {
			t.Errorf("table %s changed after rejected requests", table)
		}
	}
	if strings.Contains(x.logs.String(), `"status":500`) {
		t.Fatalf("a bad request produced a 500:\n%s", x.logs.String())
	}
}

func TestPagination(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	for i := 1; i <= 5; i++ {
		c.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "ETH", "amount": fmt.Sprint(i)}, 201, nil)
	}
	var seen []string
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		var page struct {
			Data       []depositJSON
			NextCursor string `json:"next_cursor"`
		}
		c.mustJSON("GET", "/api/v1/deposits?limit=2"+cursor, nil, 200, &page)
		for _, d := range page.Data {
			seen = append(seen, d.Amount)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + page.NextCursor
	}
	if strings.Join(seen, ",") != "5,4,3,2,1" {
		t.Fatalf("pages gave %v, want newest first 5..1 once each", seen)
	}
	c.wantError("GET", "/api/v1/deposits?limit=1001", nil, 400, "invalid_request")
	c.wantError("GET", "/api/v1/deposits?cursor=abc", nil, 400, "invalid_request")
}

func TestAdminAdjustmentAndFreeze(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	admin := x.admin()
	admin.wantError("POST", "/api/v1/admin/adjustments", map[string]string{"user_id": c.userID, "asset": "BTC", "amount": "2", "reason": ""}, 400, "invalid_request")
	var adj struct{ ID, Status string }
	admin.mustJSON("POST", "/api/v1/admin/adjustments", map[string]string{"user_id": c.userID, "asset": "BTC", "amount": "2", "reason": "goodwill credit, ticket 42"}, 201, &adj)
	if av, _ := c.balance("BTC"); adj.Status != "pending" || av != "0" {
		t.Fatalf("a proposed adjustment applied at once: %+v, available %s", adj, av)
	}
	admin.wantError("POST", "/api/v1/admin/adjustments/"+adj.ID+"/approve", nil, 403, "four_eyes_required")
	second := x.admin()
	second.mustJSON("POST", "/api/v1/admin/adjustments/"+adj.ID+"/approve", nil, 200, &adj)
	if adj.Status != "applied" {
		t.Fatalf("applied adjustment = %+v", adj)
	}
	admin.mustJSON("POST", "/api/v1/admin/adjustments", map[string]string{"user_id": c.userID, "asset": "BTC", "amount": "-3", "reason": "clawback beyond balance"}, 201, &adj)
	second.wantError("POST", "/api/v1/admin/adjustments/"+adj.ID+"/approve", nil, 400, "insufficient_funds")
	if av, _ := c.balance("BTC"); av != "2" {
		t.Fatalf("after adjustment: %s", av)
	}
	bot := c.apiKey("read")
	admin.mustJSON("POST", "/api/v1/admin/users/"+c.userID+"/freeze", nil, 200, nil)
	c.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized") // the session ended
	bot.wantError("GET", "/api/v1/balances", nil, 403, "account_frozen")
	admin.mustJSON("POST", "/api/v1/admin/users/"+c.userID+"/unfreeze", nil, 200, nil)
	bot.mustJSON("GET", "/api/v1/balances", nil, 200, nil)
	x.checkLedger()
}
