package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

type sessionInfoJSON struct {
	ID         string `json:"id"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	Current    bool   `json:"current"`
}

// otherSessionID is the id of a session of c's user that is not c's own.
func otherSessionID(t *testing.T, c *client) string {
	t.Helper()
	var list []sessionInfoJSON
	c.mustJSON("GET", "/api/v1/sessions", nil, 200, &list)
	for _, s := range list {
		if !s.Current {
			return s.ID
		}
	}
	t.Fatalf("no other session in %+v", list)
	return ""
}

// The owner cancels a pending withdrawal (even one approved once): the
// hold returns, the day's limit is free again, the balances channel says
// so, and nobody else can cancel it.
func TestOwnerCancelsWithdrawal(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	alice, mallory := x.trader(), x.trader()
	alice.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "BTC", "amount": "12"}, 201, nil)
	h := alice.sessionHeader()
	h.Set("Origin", x.url)
	ws := x.dialWS(h)
	ws.send("subscribe", "balances")
	ws.next("subscribed", "")

	var w withdrawalJSON
	alice.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "10", "address": "bc1qexampleaddress"}, 201, &w)
	wantTransfer(t, ws, "withdrawal", w.ID, "pending", false)
	x.admin().mustJSON("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 200, nil)
	wantTransfer(t, ws, "withdrawal", w.ID, "pending", true)

	mallory.wantError("DELETE", "/api/v1/withdrawals/"+w.ID, nil, 404, "not_found")
	noToken := *alice
	noToken.csrf = ""
	noToken.wantError("DELETE", "/api/v1/withdrawals/"+w.ID, nil, 403, "csrf_failed")
	alice.apiKey("read").wantError("DELETE", "/api/v1/withdrawals/"+w.ID, nil, 403, "forbidden")
	alice.wantError("DELETE", "/api/v1/withdrawals/999999", nil, 404, "not_found")
	alice.wantError("DELETE", "/api/v1/withdrawals/nope", nil, 404, "not_found")

	alice.mustJSON("DELETE", "/api/v1/withdrawals/"+w.ID, nil, 200, &w)
	if w.Status != "cancelled" {
		t.Fatalf("cancelled withdrawal = %+v", w)
	}
	wantTransfer(t, ws, "withdrawal", w.ID, "cancelled", true)
	if av, held := alice.balance("BTC"); av != "12" || held != "0" {
		t.Fatalf("after the cancel: available %s held %s, want 12 / 0", av, held)
	}
	alice.wantError("DELETE", "/api/v1/withdrawals/"+w.ID, nil, 409, "conflict")
	x.admin().wantError("POST", "/api/v1/admin/withdrawals/"+w.ID+"/approve", nil, 409, "conflict")
	// The cancelled 10 left the day's count (BTC's limit is 10 a day).
	withKey := alice.apiKey("withdraw", "read")
	withKey.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "BTC", "amount": "10", "address": "bc1qexampleaddress"}, 201, &w)
	withKey.mustJSON("DELETE", "/api/v1/withdrawals/"+w.ID, nil, 200, &w)
	var cancelled struct{ Data []withdrawalJSON }
	x.admin().mustJSON("GET", "/api/v1/admin/withdrawals?status=cancelled", nil, 200, &cancelled)
	if len(cancelled.Data) != 2 {
		t.Fatalf("cancelled withdrawals = %+v, want 2", cancelled.Data)
	}
	x.checkLedger()
}

// The owner's cancel and the second admin's approval (or a rejection) of
// the same withdrawal, sent at once: exactly one wins, the other is told
// 409, and the balance shows only what the winner did.
func TestCancelRacesAdminDecision(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	alice := x.trader()
	first, second := x.admin(), x.admin()
	alice.mustJSON("POST", "/api/v1/deposits", map[string]string{"asset": "USDT", "amount": "1000"}, 201, nil)
	const rounds = 30
	wins := map[string]int{}
	sent := 0
	for i := range rounds {
		var w withdrawalJSON
		alice.mustJSON("POST", "/api/v1/withdrawals", map[string]string{"asset": "USDT", "amount": "1", "address": "TXexampleaddress"}, 201, &w)
		decision, decide, body := "approve", "/api/v1/admin/withdrawals/"+w.ID+"/approve", any(nil)
		if i%3 == 2 {
			decision, decide, body = "reject", "/api/v1/admin/withdrawals/"+w.ID+"/reject", map[string]string{"reason": "racing"}
		} else {
			first.mustJSON("POST", decide, nil, 200, nil)
		}
		var wg sync.WaitGroup
		var cancelStatus, decideStatus int
		var cancelBody, decideBody []byte
		wg.Add(2)
		go func() {
			defer wg.Done()
			cancelStatus, cancelBody = alice.do("DELETE", "/api/v1/withdrawals/"+w.ID, nil)
		}()
		go func() { defer wg.Done(); decideStatus, decideBody = second.do("POST", decide, body) }()
		wg.Wait()
		switch {
		case cancelStatus == 200 && decideStatus == 409:
			wins["cancel beat "+decision]++
		case cancelStatus == 409 && decideStatus == 200:
			wins[decision+" beat cancel"]++
			if decision == "approve" {
				sent++
			}
		default:
			t.Fatalf("round %d: cancel %d %s, %s %d %s; want one 200 and one 409", i, cancelStatus, cancelBody, decision, decideStatus, decideBody)
		}
		loser := cancelBody
		if cancelStatus == 200 {
			loser = decideBody
		}
		if code := errorCode(loser); code != "conflict" {
			t.Fatalf("round %d: the loser's code is %q (%s)", i, code, loser)
		}
	}
	t.Logf("%d races: %v", rounds, wins)
	want := fmt.Sprint(1000 - sent)
	if av, held := alice.balance("USDT"); av != want || held != "0" {
		t.Fatalf("balance %s / %s, want %s / 0 (%d sent)", av, held, want, sent)
	}
	x.checkLedger()
}

// The account lists its open sessions with where and with what they were
// opened, marks the caller's, and ends one or all the others; nobody else
// can end them. The login history keeps checked attempts, never a secret,
// and only the newest 100.
func TestSessionsAndLoginHistory(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	alice := x.trader()
	email := fmt.Sprintf("trader%d@example.com", x.users.Load())
	bob := x.trader()
	phone := x.anonymous()
	ua := map[string]string{"User-Agent": "Mozilla/5.0 (iPhone)\ttest"}
	if status, body, _ := phone.doFull("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "not the password at all"}, ua); status != 401 {
		t.Fatalf("wrong password: %d %s", status, body)
	}
	var in struct {
		CSRFToken string `json:"csrf_token"`
	}
	status, body, _ := phone.doFull("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, ua)
	if status != 200 || json.Unmarshal(body, &in) != nil {
		t.Fatalf("login: %d %s", status, body)
	}
	phone.csrf = in.CSRFToken

	var list []sessionInfoJSON
	alice.mustJSON("GET", "/api/v1/sessions", nil, 200, &list)
	if len(list) != 2 || list[0].IP != "127.0.0.1" {
		t.Fatalf("sessions = %+v, want 2 from 127.0.0.1", list)
	}
	current := 0
	for _, s := range list {
		if s.Current {
			current++
		} else if s.UserAgent != "Mozilla/5.0 (iPhone)test" {
			t.Fatalf("the phone's user agent is stored as %q", s.UserAgent)
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions marked current: %+v", current, list)
	}
	phoneID := otherSessionID(t, alice)
	bob.wantError("DELETE", "/api/v1/sessions/"+phoneID, nil, 404, "not_found")
	bob.wantError("DELETE", "/api/v1/sessions/x", nil, 404, "not_found")
	alice.apiKey("read").wantError("GET", "/api/v1/sessions", nil, 403, "forbidden")
	alice.mustJSON("DELETE", "/api/v1/sessions/"+phoneID, nil, 204, nil)
	phone.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")

	var events []struct {
		IP, Outcome, UserAgent string
		CreatedAt              string `json:"created_at"`
	}
	status, raw := alice.do("GET", "/api/v1/login-history", nil)
	if status != 200 || strings.Contains(string(raw), "not the password") || strings.Contains(string(raw), testPassword) {
		t.Fatalf("login history %d %s", status, raw)
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatal(err)
	}
	outcomes := []string{}
	for _, e := range events {
		outcomes = append(outcomes, e.Outcome)
	}
	if got := strings.Join(outcomes, ","); got != "success,wrong_password,success" {
		t.Fatalf("login history outcomes %s, want success,wrong_password,success (newest first)", got)
	}

	// Sign out everywhere else: two more sessions end, the caller's stays.
	other := x.anonymous()
	other.login(email, testPassword)
	phone.login(email, testPassword)
	var out struct{ Revoked int }
	alice.mustJSON("DELETE", "/api/v1/sessions", nil, 200, &out)
	if out.Revoked != 2 {
		t.Fatalf("revoked %d, want 2", out.Revoked)
	}
	other.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")
	alice.mustJSON("GET", "/api/v1/sessions", nil, 200, &list)
	if len(list) != 1 || !list[0].Current {
		t.Fatalf("after signing out elsewhere: %+v", list)
	}

	// Bounded: 110 more logins, four at a time (the password hashing
	// queue's size on a small machine), keep the newest 100.
	var wg sync.WaitGroup
	logins := make(chan struct{}, 110)
	for range 110 {
		logins <- struct{}{}
	}
	close(logins)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range logins {
				c := x.anonymous()
				if status, body := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}); status != 200 {
					t.Errorf("login %d %s", status, body)
				}
			}
		}()
	}
	wg.Wait()
	alice.mustJSON("GET", "/api/v1/login-history", nil, 200, &events)
	var rows int
	x.db.Raw("SELECT count(*) FROM login_events WHERE user_id = ?", alice.userID).Scan(&rows)
	if len(events) != 100 || rows != 100 {
		t.Fatalf("history holds %d (table %d rows), want the newest 100", len(events), rows)
	}

	// With 111 sessions open the list shows 100, the caller's first; the
	// caller's own revoked is a logout.
	alice.mustJSON("GET", "/api/v1/sessions", nil, 200, &list)
	if len(list) != 100 || !list[0].Current {
		t.Fatalf("%d sessions listed, the first %+v; want 100, the caller's first", len(list), list[0])
	}
	alice.mustJSON("DELETE", "/api/v1/sessions/"+list[0].ID, nil, 204, nil)
	alice.wantError("GET", "/api/v1/balances", nil, 401, "unauthorized")
}
