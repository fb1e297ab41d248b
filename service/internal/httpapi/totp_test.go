package httpapi_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
)

// Once two-factor authentication is on (the web site's account page turns
// it on), the JSON login needs a current code, and each code works once.
func TestLoginWithTwoFactorCode(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	c := x.trader()
	userID, _ := strconv.ParseInt(c.userID, 10, 64)
	a, err := auth.New(x.db, secretKey, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := auth.Principal{UserID: userID}
	if err := a.StartTOTP(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, err := a.TOTP(ctx, userID)
	if err != nil || st.Pending == nil {
		t.Fatalf("pending enrolment: %+v, %v", st, err)
	}
	secret := st.Pending.Secret()
	now, _ := totp.GenerateCode(secret, time.Now())
	recovery, err := a.EnableTOTP(ctx, p, testPassword, now)
	if err != nil || len(recovery) != 10 {
		t.Fatalf("enable: %d recovery codes, %v", len(recovery), err)
	}

	var email struct{ User struct{ Email string } }
	c.mustJSON("GET", "/api/v1/account", nil, 200, &email)
	login := func(code string) map[string]string {
		body := map[string]string{"email": email.User.Email, "password": testPassword}
		if code != "" {
			body["totp_code"] = code
		}
		return body
	}
	anon := x.anonymous()
	anon.wantError("POST", "/api/v1/auth/login", login(""), 401, "totp_required")
	// The code that turned it on is spent: its time step is used.
	anon.wantError("POST", "/api/v1/auth/login", login(now), 401, "invalid_totp")
	anon.wantError("POST", "/api/v1/auth/login", login("12345"), 401, "invalid_totp")
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	anon.mustJSON("POST", "/api/v1/auth/login", login(next), 200, nil)
	anon.wantError("POST", "/api/v1/auth/login", login(next), 401, "invalid_totp")
	anon.wantError("POST", "/api/v1/auth/register", map[string]string{"email": "new@example.com", "password": testPassword, "totp_code": "123456"}, 400, "unknown_field")

	// Wrong codes count as failed logins, so guessing them is throttled:
	// the replay above and these make the five a window allows.
	for range 4 {
		anon.wantError("POST", "/api/v1/auth/login", login("000000x"), 401, "invalid_totp")
	}
	anon.wantError("POST", "/api/v1/auth/login", login(""), 429, "too_many_requests")
	if logs := x.logs.String(); containsAny(logs, secret, next) {
		t.Fatal("a TOTP secret or code reached the logs")
	}

	// The login history has each checked attempt's outcome, newest first,
	// and not the throttled one; never a code.
	status, raw := c.do("GET", "/api/v1/login-history", nil)
	var events []struct{ Outcome string }
	if status != 200 || containsAny(string(raw), secret, now, next, "000000x") || json.Unmarshal(raw, &events) != nil {
		t.Fatalf("login history: %d %s", status, raw)
	}
	var outcomes []string
	for _, e := range events {
		outcomes = append(outcomes, e.Outcome)
	}
	want := "wrong_code,wrong_code,wrong_code,wrong_code,wrong_code,success,wrong_code,wrong_code,code_required,success"
	if got := strings.Join(outcomes, ","); got != want {
		t.Fatalf("login history %s, want %s", got, want)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
