package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// Sessions last a day of inactivity; use renews them. When a session
// was last used is written at most once a minute, not on every request.
const (
	sessionTTL      = 24 * time.Hour
	sessionRenewAt  = 12 * time.Hour
	sessionSeenStep = time.Minute
)

// Scope is what an API key may do. Sessions may do everything their role allows.
type Scope uint8

const (
	ScopeRead Scope = 1 << iota
	ScopeTrade
	ScopeWithdraw
	allScopes = ScopeRead | ScopeTrade | ScopeWithdraw
)

var scopeNames = []struct {
	s    Scope
	name string
}{{ScopeRead, "read"}, {ScopeTrade, "trade"}, {ScopeWithdraw, "withdraw"}}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    int64
	AccountID int64
	Email     string
	Role      string
	Scopes    Scope
	// Session is set for browser sessions; it carries the CSRF token.
	Session *Session
	// KeyID is set for API-key requests.
	KeyID string
	// TOTP says the user has two-factor authentication on, so sensitive
	// actions ask for a code again (StepUp).
	TOTP bool
}

// Owner is whose account an operation is on: a user and their ledger account.
type Owner struct {
	UserID    int64
	AccountID int64
}

// Owner is the caller as the owner of an account.
func (p Principal) Owner() Owner { return Owner{UserID: p.UserID, AccountID: p.AccountID} }

// Can reports whether the caller holds scope.
func (p Principal) Can(s Scope) bool { return p.Scopes&s == s }

// IsAdmin reports the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// Session is an open browser session. Token goes in the cookie and is shown
// only at creation; the database keeps its hash.
type Session struct {
	Token     string
	CSRFToken string
	ExpiresAt time.Time
	// Renewed tells the caller to send the cookie again with the new expiry.
	Renewed   bool
	tokenHash []byte
}

// ID names the session without revealing its token: the hex of its hash.
func (s *Session) ID() string { return hex.EncodeToString(s.tokenHash) }

type sessionRow struct {
	TokenHash  []byte `gorm:"primaryKey"`
	UserID     int64
	CSRFToken  string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

func (sessionRow) TableName() string { return "sessions" }

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func (s *Service) createSession(ctx context.Context, userID int64, ip, userAgent string) (Session, error) {
	sess := Session{Token: randomToken(32), CSRFToken: randomToken(32), ExpiresAt: s.now().Add(sessionTTL)}
	sess.tokenHash = hashToken(sess.Token)
	row := sessionRow{TokenHash: sess.tokenHash, UserID: userID, CSRFToken: sess.CSRFToken, IP: cleanText(ip, 64), UserAgent: cleanText(userAgent, 256),
		CreatedAt: s.now(), LastSeenAt: s.now(), ExpiresAt: sess.ExpiresAt}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// errNoPrincipal is returned for every failed authentication. The client
// learns nothing about which part was wrong.
var errNoPrincipal = apierr.New(apierr.Unauthorized, "authentication required")

// principalRow is what one join gives for a session or an API key.
type principalRow struct {
	UserID      int64
	AccountID   int64
	Email       string
	Role        string
	Status      string
	TOTPEnabled bool
	CSRFToken   string
	ExpiresAt   time.Time
	LastSeenAt  time.Time
}

// Authenticate resolves a session cookie's token. An expired, unknown or
// frozen user's session is an unauthorized client error.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, errNoPrincipal
	}
	th := hashToken(token)
	var r principalRow
	err := s.db.WithContext(ctx).Raw(`
		SELECT u.id AS user_id, a.id AS account_id, u.email, u.role, u.status, u.totp_enabled, s.csrf_token, s.expires_at, s.last_seen_at
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.user_id = u.id
		WHERE s.token_hash = ? AND s.expires_at > ?`, th, s.now()).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Principal{}, errNoPrincipal
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate session: %w", err)
	}
	if r.Status != StatusActive {
		return Principal{}, apierr.New(apierr.AccountFrozen, "this account is frozen; contact support")
	}
	sess := &Session{Token: token, CSRFToken: r.CSRFToken, ExpiresAt: r.ExpiresAt, tokenHash: th}
	update := map[string]any{}
	if r.ExpiresAt.Sub(s.now()) < sessionRenewAt {
		sess.ExpiresAt, sess.Renewed = s.now().Add(sessionTTL), true
		update["expires_at"] = sess.ExpiresAt
	}
	if s.now().Sub(r.LastSeenAt) >= sessionSeenStep {
		update["last_seen_at"] = s.now()
	}
	if len(update) > 0 {
		if err := s.db.WithContext(ctx).Model(&sessionRow{}).Where("token_hash = ?", th).Updates(update).Error; err != nil {
			return Principal{}, fmt.Errorf("renew session: %w", err)
		}
	}
	return Principal{UserID: r.UserID, AccountID: r.AccountID, Email: r.Email, Role: r.Role, Scopes: allScopes, Session: sess, TOTP: r.TOTPEnabled}, nil
}

// Logout ends the session, and the streams opened with it.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	if p.Session == nil {
		return nil
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("token_hash = ?", p.Session.tokenHash).Delete(&sessionRow{}).Error; err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		return notifyAccess(tx, AccessChange{UserID: p.UserID, Session: p.Session.ID()})
	})
}

func (s *Service) principalForUser(ctx context.Context, userID int64) (Principal, error) {
	var r principalRow
	err := s.db.WithContext(ctx).Raw(`
		SELECT u.id AS user_id, a.id AS account_id, u.email, u.role, u.status, u.totp_enabled
		FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.id = ?`, userID).Take(&r).Error
	if err != nil {
		return Principal{}, fmt.Errorf("load user %d: %w", userID, err)
	}
	return Principal{UserID: r.UserID, AccountID: r.AccountID, Email: r.Email, Role: r.Role, Scopes: allScopes, TOTP: r.TOTPEnabled}, nil
}
