// Package auth knows who is calling: users and their passwords, browser
// sessions, API keys with signed requests, and login throttling.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// Roles.
const (
	RoleTrader = "trader"
	RoleAdmin  = "admin"
)

// User statuses.
const (
	StatusActive = "active"
	StatusFrozen = "frozen"
)

// Login throttling: failures counted in a sliding window per account and per
// client IP, in Postgres so that every replica sees the same counts.
const (
	throttleWindow     = 15 * time.Minute
	maxFailuresPerUser = 5
	maxFailuresPerIP   = 50
)

// User is a person (or bot owner) with a login.
type User struct {
	ID           int64
	Email        string
	PasswordHash string
	Role         string
	Status       string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Two-factor authentication; see totp.go.
	TOTPSecretSealed []byte `gorm:"column:totp_secret_sealed"`
	TOTPEnabled      bool   `gorm:"column:totp_enabled"`
	TOTPLastStep     int64  `gorm:"column:totp_last_step"`
}

// Service implements the auth operations over the database.
type Service struct {
	db      *gorm.DB
	sealKey []byte
	now     func() time.Time
	// dummyHash is verified against when an email is unknown, so a login
	// takes as long for a missing account as for a wrong password.
	dummyHash  string
	signatures *signatureLog

	keysMu sync.Mutex
	keys   map[string]cachedKey
}

// New builds the service. secretKey seals API key secrets at rest; tools
// that never touch API keys (create-admin) pass nil.
func New(db *gorm.DB, secretKey []byte, now func() time.Time) (*Service, error) {
	var seal []byte
	if secretKey != nil {
		var err error
		if seal, err = deriveSealKey(secretKey); err != nil {
			return nil, err
		}
	}
	dummy, err := hashPassword("timing-equaliser")
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Service{db: db, sealKey: seal, now: now, dummyHash: dummy, signatures: &signatureLog{db: sqlDB}, keys: map[string]cachedKey{}}, nil
}

func normaliseEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 || !strings.Contains(email[strings.IndexByte(email, '@'):], ".") {
		return "", apierr.New(apierr.InvalidEmail, "%q is not a valid email address", raw)
	}
	return email, nil
}

func checkPasswordPolicy(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < 10:
		return apierr.New(apierr.WeakPassword, "the password must be at least 10 characters long")
	case n > 128:
		return apierr.New(apierr.InvalidPassword, "the password must be at most 128 characters long")
	case strings.EqualFold(password, email):
		return apierr.New(apierr.WeakPassword, "the password must not be the email address")
	}
	return nil
}

// Register creates a user with the given role and its ledger account.
func (s *Service) Register(ctx context.Context, rawEmail, password, role string) (User, error) {
	email, err := normaliseEmail(rawEmail)
	if err != nil {
		return User{}, err
	}
	if err := checkPasswordPolicy(password, email); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return User{}, err
	}
	u := User{Email: email, PasswordHash: hash, Role: role, Status: StatusActive}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		return tx.Exec("INSERT INTO accounts (kind, user_id) VALUES ('user', ?)", u.ID).Error
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return User{}, apierr.New(apierr.EmailTaken, "an account with this email already exists")
	}
	if err != nil {
		return User{}, fmt.Errorf("register: %w", err)
	}
	return u, nil
}

// Login checks credentials under throttling and opens a session. It is
// LoginWithCode without a code, for accounts without two-factor
// authentication.
func (s *Service) Login(ctx context.Context, rawEmail, password, ip string) (Session, Principal, error) {
	return s.LoginWithCode(ctx, rawEmail, password, "", ip)
}

// LoginWithCode checks credentials under throttling and opens a session.
// Once the user has enabled two-factor authentication, totpCode must be a
// current code: without one the answer is totp_required (the password was
// right), and a wrong or replayed code counts as a failed login, so the
// throttle bounds guessing it as it bounds guessing passwords.
func (s *Service) LoginWithCode(ctx context.Context, rawEmail, password, totpCode, ip string) (Session, Principal, error) {
	email := strings.ToLower(strings.TrimSpace(rawEmail))
	if err := s.checkThrottle(ctx, email, ip); err != nil {
		return Session{}, Principal{}, err
	}
	var u User
	err := s.db.WithContext(ctx).Where("email = ?", email).Take(&u).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, Principal{}, fmt.Errorf("login: %w", err)
	}
	hash := u.PasswordHash
	if u.ID == 0 {
		hash = s.dummyHash
	}
	ok, err := verifyPassword(hash, password)
	if err != nil {
		return Session{}, Principal{}, fmt.Errorf("login: user %d: %w", u.ID, err)
	}
	if !ok || u.ID == 0 {
		return Session{}, Principal{}, s.loginFailed(ctx, email, ip, apierr.New(apierr.InvalidCredentials, "wrong email or password"))
	}
	if u.Status == StatusFrozen {
		return Session{}, Principal{}, apierr.New(apierr.AccountFrozen, "this account is frozen; contact support")
	}
	if u.TOTPEnabled {
		if strings.TrimSpace(totpCode) == "" {
			return Session{}, Principal{}, apierr.New(apierr.TOTPRequired, "this account has two-factor authentication: give the 6-digit code from the authenticator app")
		}
		if err := s.consumeTOTP(ctx, u, totpCode); err != nil {
			if _, ok := apierr.As(err); ok {
				return Session{}, Principal{}, s.loginFailed(ctx, email, ip, err)
			}
			return Session{}, Principal{}, err
		}
	}
	if err := s.db.WithContext(ctx).Exec("DELETE FROM login_failures WHERE email = ?", email).Error; err != nil {
		return Session{}, Principal{}, fmt.Errorf("login: reset failures: %w", err)
	}
	sess, err := s.createSession(ctx, u.ID)
	if err != nil {
		return Session{}, Principal{}, err
	}
	p, err := s.principalForUser(ctx, u.ID)
	if err != nil {
		return Session{}, Principal{}, err
	}
	p.Session = &sess
	return sess, p, nil
}

// loginFailed records a failed attempt for the throttle and returns why.
func (s *Service) loginFailed(ctx context.Context, email, ip string, why error) error {
	if err := s.db.WithContext(ctx).Exec("INSERT INTO login_failures (email, ip) VALUES (?, ?)", email, ip).Error; err != nil {
		return fmt.Errorf("login: record failure: %w", err)
	}
	return why
}

func (s *Service) checkThrottle(ctx context.Context, email, ip string) error {
	since := s.now().Add(-throttleWindow)
	var byUser, byIP int64
	if err := s.db.WithContext(ctx).Raw(`SELECT
		count(*) FILTER (WHERE email = ?), count(*) FILTER (WHERE ip = ?)
		FROM login_failures WHERE failed_at > ? AND (email = ? OR ip = ?)`, email, ip, since, email, ip).
		Row().Scan(&byUser, &byIP); err != nil {
		return fmt.Errorf("login throttle: %w", err)
	}
	if byUser >= maxFailuresPerUser || byIP >= maxFailuresPerIP {
		return apierr.New(apierr.TooManyRequests, "too many failed logins; try again in %d minutes", int(throttleWindow.Minutes()))
	}
	return nil
}

// ChangePassword replaces the password after checking the current one and
// ends every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	var u User
	if err := s.db.WithContext(ctx).Take(&u, p.UserID).Error; err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	ok, err := verifyPassword(u.PasswordHash, current)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if !ok {
		return apierr.New(apierr.InvalidCredentials, "the current password is wrong")
	}
	if err := checkPasswordPolicy(next, u.Email); err != nil {
		return err
	}
	hash, err := hashPassword(next)
	if err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"password_hash": hash, "updated_at": s.now()}).Error; err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		q := tx.Where("user_id = ?", u.ID)
		if p.Session != nil {
			q = q.Where("token_hash <> ?", p.Session.tokenHash)
		}
		if err := q.Delete(&sessionRow{}).Error; err != nil {
			return fmt.Errorf("change password: end other sessions: %w", err)
		}
		return nil
	})
}

// SetStatus freezes or unfreezes a user for an admin, who may not change
// their own status. A frozen user's sessions end and their API keys stop
// working until unfrozen.
func (s *Service) SetStatus(ctx context.Context, admin Principal, userID int64, status string) error {
	if userID == admin.UserID {
		return apierr.New(apierr.Forbidden, "admins cannot change their own status")
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{"status": status, "updated_at": s.now()})
		if res.Error != nil {
			return fmt.Errorf("set user status: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apierr.New(apierr.NotFound, "user %d not found", userID)
		}
		if status == StatusFrozen {
			if err := tx.Where("user_id = ?", userID).Delete(&sessionRow{}).Error; err != nil {
				return fmt.Errorf("end sessions of frozen user: %w", err)
			}
		}
		s.forgetKeys()
		return nil
	})
}

// Prune deletes expired sessions, replay-window signatures and old login
// failures. Every replica runs it now and then; it is idempotent.
func (s *Service) Prune(ctx context.Context) error {
	now := s.now()
	db := s.db.WithContext(ctx)
	return errors.Join(
		db.Exec("DELETE FROM sessions WHERE expires_at < ?", now).Error,
		db.Exec("DELETE FROM api_signatures WHERE expires_at < ?", now).Error,
		db.Exec("DELETE FROM login_failures WHERE failed_at < ?", now.Add(-throttleWindow)).Error,
	)
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on Linux since Go 1.24; a failure here
		// means the process cannot make secrets at all.
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
