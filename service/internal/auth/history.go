package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// LoginOutcome is how a checked login attempt ended, as the login history
// keeps it (login_events.outcome). Never the password or the code.
type LoginOutcome string

const (
	LoginSucceeded     LoginOutcome = "success"
	LoginWrongPassword LoginOutcome = "wrong_password"
	// LoginCodeRequired: the password was right, the two-factor code
	// missing.
	LoginCodeRequired LoginOutcome = "code_required"
	LoginWrongCode    LoginOutcome = "wrong_code"
	LoginFrozen       LoginOutcome = "frozen"
)

// loginHistorySize is how many attempts a user's history keeps: the
// newest, so that a stranger's guesses cannot grow the table.
const loginHistorySize = 100

// LoginEvent is one attempt in a user's login history.
type LoginEvent struct {
	ID        int64        `json:"id,string"`
	IP        string       `json:"ip"`
	UserAgent string       `json:"user_agent"`
	Outcome   LoginOutcome `json:"outcome"`
	CreatedAt time.Time    `json:"created_at"`
}

// outcomeOf says how Login's answer is kept; false for answers that
// checked nothing about the caller (a busy server, a fault).
func outcomeOf(err error) (LoginOutcome, bool) {
	if err == nil {
		return LoginSucceeded, true
	}
	e, ok := apierr.As(err)
	if !ok {
		return "", false
	}
	switch e.Code {
	case apierr.InvalidCredentials:
		return LoginWrongPassword, true
	case apierr.TOTPRequired:
		return LoginCodeRequired, true
	case apierr.InvalidTOTP:
		return LoginWrongCode, true
	case apierr.AccountFrozen:
		return LoginFrozen, true
	}
	return "", false
}

// recordLogin appends an attempt to the user's history and forgets what
// falls beyond its newest loginHistorySize.
func (s *Service) recordLogin(ctx context.Context, userID int64, r LoginRequest, outcome LoginOutcome) error {
	db := s.db.WithContext(ctx)
	if err := db.Exec("INSERT INTO login_events (user_id, ip, user_agent, outcome, created_at) VALUES (?, ?, ?, ?, ?)",
		userID, cleanText(r.ClientIP, 64), cleanText(r.UserAgent, 256), string(outcome), s.now()).Error; err != nil {
		return fmt.Errorf("record login of user %d: %w", userID, err)
	}
	if err := db.Exec(`DELETE FROM login_events WHERE user_id = ? AND id <= (
		SELECT id FROM login_events WHERE user_id = ? ORDER BY id DESC OFFSET ? LIMIT 1)`, userID, userID, loginHistorySize).Error; err != nil {
		return fmt.Errorf("trim login history of user %d: %w", userID, err)
	}
	return nil
}

// LoginHistory is the user's kept login attempts, newest first.
func (s *Service) LoginHistory(ctx context.Context, userID int64) ([]LoginEvent, error) {
	out := []LoginEvent{}
	if err := s.db.WithContext(ctx).Raw(`SELECT id, ip, user_agent, outcome, created_at FROM login_events
		WHERE user_id = ? ORDER BY id DESC LIMIT ?`, userID, loginHistorySize).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("login history of user %d: %w", userID, err)
	}
	return out, nil
}

// cleanText makes a client-sent header storable and showable: valid
// UTF-8 (PostgreSQL refuses NUL and invalid UTF-8) without control or
// invisible format characters (a right-to-left override would let a user
// agent show as something else in the owner's session list), at most max
// bytes.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
