// Package auth knows who is calling: users and their passwords, browser
// sessions, API keys with signed requests, two-factor codes, and login
// throttling.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/audit"
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
	dummyHash   string
	recoveryKey []byte
	signatures  *signatureLog
	gate        *gate

	keysMu  sync.Mutex
	keys    map[string]cachedKey
	keysGen atomic.Uint64 // counts forgetKeys calls
}

// New builds the service. secretKey seals API key secrets and two-factor
// secrets at rest; tools that never touch them (create-admin) pass nil.
func New(db *gorm.DB, secretKey []byte, now func() time.Time) (*Service, error) {
	var seal, recovery []byte
	if secretKey != nil {
		var err error
		if seal, err = deriveSealKey(secretKey); err != nil {
			return nil, err
		}
		if recovery, err = deriveRecoveryKey(secretKey); err != nil {
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
	// As many hashes at once as there are cores, four times that waiting
	// at most a second: a burst beyond is told to come back (429).
	cores := runtime.GOMAXPROCS(0)
	return &Service{db: db, sealKey: seal, recoveryKey: recovery, now: now, dummyHash: dummy, signatures: &signatureLog{db: sqlDB},
		gate: newGate(cores, 4*cores, time.Second), keys: map[string]cachedKey{}}, nil
}

func normaliseEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 || !strings.Contains(email[strings.IndexByte(email, '@'):], ".") {
		return "", apierr.New(apierr.InvalidEmail, "%q is not a valid email address", raw)
	}
	return email, nil
}

// Register creates a user with the given role and its ledger account. It
// says when the email is taken: it is for operators (create-admin), not
// for the public sign-up, which is SignUp.
func (s *Service) Register(ctx context.Context, rawEmail, password, role string) (User, error) {
	u, created, err := s.create(ctx, rawEmail, password, role)
	if err != nil {
		return User{}, err
	}
	if !created {
		return User{}, apierr.New(apierr.EmailTaken, "an account with this email already exists")
	}
	return u, nil
}

// SignUp registers a trader. Its answer is the same whether or not the
// address already has an account, so nobody can learn who has one; the
// mail it queues tells the address's owner which it was.
func (s *Service) SignUp(ctx context.Context, rawEmail, password string) (email string, err error) {
	u, _, err := s.create(ctx, rawEmail, password, RoleTrader)
	return u.Email, err
}

// create makes the user unless the email is taken (created false); either
// way the password is checked and hashed first, so both take as long.
func (s *Service) create(ctx context.Context, rawEmail, password, role string) (User, bool, error) {
	email, err := normaliseEmail(rawEmail)
	if err != nil {
		return User{}, false, err
	}
	if err := checkPasswordPolicy(password, email); err != nil {
		return User{}, false, err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return User{}, false, err
	}
	u := User{Email: email, PasswordHash: hash, Role: role, Status: StatusActive}
	created := false
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO users (email, password_hash, role, status) VALUES (?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`,
			u.Email, u.PasswordHash, u.Role, u.Status)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return enqueueMail(tx, alreadyRegisteredMail(email))
		}
		created = true
		if err := tx.Where("email = ?", email).Take(&u).Error; err != nil {
			return err
		}
		if err := tx.Exec("INSERT INTO accounts (kind, user_id) VALUES ('user', ?)", u.ID).Error; err != nil {
			return err
		}
		return enqueueMail(tx, welcomeMail(email))
	})
	if err != nil {
		return User{}, false, fmt.Errorf("register: %w", err)
	}
	return u, created, nil
}

// LoginRequest is one attempt to log in.
type LoginRequest struct {
	Email, Password string
	// Code is a current two-factor code or an unused recovery code, once
	// the account has two-factor authentication.
	Code string
	// IP is the throttle's key for the client (an IPv6 client's /64).
	IP string
	// ClientIP and UserAgent are what the session list and the login
	// history show.
	ClientIP, UserAgent string
	// Device is the device cookie the client sent, if any.
	Device string
}

// LoginResult is an open session, and a device cookie to set when the
// client did not have a valid one for this account.
type LoginResult struct {
	Session       Session
	Principal     Principal
	Device        string
	DeviceExpires time.Time
}

// Login checks credentials under throttling and opens a session. Each
// attempt is counted before the password is checked (throttle.go), and
// the check waits its turn for a hashing slot. Once the user has enabled
// two-factor authentication, Code must be a current code or a recovery
// code: without one the answer is totp_required (the password was right),
// and a wrong or replayed code counts as a failed attempt.
func (s *Service) Login(ctx context.Context, r LoginRequest) (LoginResult, error) {
	email := strings.ToLower(strings.TrimSpace(r.Email))
	if len(email) > 254 {
		// No account has such an address (normaliseEmail refuses them),
		// and it would not fit the throttle's key.
		return LoginResult{}, apierr.New(apierr.InvalidCredentials, "wrong email or password")
	}
	var u User
	err := s.db.WithContext(ctx).Where("email = ?", email).Take(&u).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	device, err := s.knownDevice(ctx, r.Device, u.ID)
	if err != nil {
		return LoginResult{}, err
	}
	attempts := loginAttempts(email, r.IP, device)
	if err := s.reserve(ctx, attempts); err != nil {
		return LoginResult{}, err
	}
	res, failed, err := s.login(ctx, u, r, device)
	if outcome, ok := outcomeOf(err); ok && u.ID != 0 {
		if herr := s.recordLogin(ctx, u.ID, r, outcome); herr != nil && err == nil {
			err = herr
		}
	}
	if !failed {
		// Not a wrong guess: hand the attempt back (and on success start
		// this IP's or device's count afresh).
		if rerr := s.release(ctx, attempts, err == nil); rerr != nil && err == nil {
			err = rerr
		}
	}
	return res, err
}

// login does the checks once the attempt is counted; failed says whether
// the attempt was a wrong guess that must keep counting.
func (s *Service) login(ctx context.Context, u User, r LoginRequest, device []byte) (res LoginResult, failed bool, err error) {
	hash := u.PasswordHash
	if u.ID == 0 {
		hash = s.dummyHash
	}
	ok, err := s.verify(ctx, hash, r.Password)
	if err != nil {
		if isBusy(err) {
			return res, false, err
		}
		return res, false, fmt.Errorf("login: user %d: %w", u.ID, err)
	}
	if !ok || u.ID == 0 {
		return res, true, apierr.New(apierr.InvalidCredentials, "wrong email or password")
	}
	if u.Status == StatusFrozen {
		return res, false, apierr.New(apierr.AccountFrozen, "this account is frozen; contact support")
	}
	if u.TOTPEnabled {
		if strings.TrimSpace(r.Code) == "" {
			return res, false, apierr.New(apierr.TOTPRequired, "this account has two-factor authentication: give the 6-digit code from the authenticator app, or a recovery code")
		}
		if err := s.consumeSecondFactor(ctx, u, r.Code); err != nil {
			_, client := apierr.As(err)
			return res, client, err
		}
	}
	if res.Session, err = s.createSession(ctx, u.ID, r.ClientIP, r.UserAgent); err != nil {
		return res, false, err
	}
	if res.Principal, err = s.principalForUser(ctx, u.ID); err != nil {
		return res, false, err
	}
	res.Principal.Session = &res.Session
	if device == nil {
		if res.Device, res.DeviceExpires, err = s.rememberDevice(ctx, u.ID); err != nil {
			return res, false, err
		}
	}
	return res, false, nil
}

// ChangePassword replaces the password after checking the current one
// (and, with two-factor authentication on, a current code). It ends every
// other session of the user and revokes every API key: a password is
// changed when it may have leaked, and a key made by whoever had it must
// not outlive it. Streams opened with them end too.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next, code string) error {
	var u User
	if err := s.db.WithContext(ctx).Take(&u, p.UserID).Error; err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.checkCurrentPassword(ctx, u, current); err != nil {
		return err
	}
	if err := s.StepUp(ctx, p, code); err != nil {
		return err
	}
	if err := checkPasswordPolicy(next, u.Email); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	change := AccessChange{UserID: u.ID}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"password_hash": hash, "updated_at": s.now()}).Error; err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		q := tx.Where("user_id = ?", u.ID)
		if p.Session != nil {
			q = q.Where("token_hash <> ?", p.Session.tokenHash)
			change.KeepSession = p.Session.ID()
		}
		if err := q.Delete(&sessionRow{}).Error; err != nil {
			return fmt.Errorf("change password: end other sessions: %w", err)
		}
		if err := tx.Model(&apiKeyRow{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Update("revoked_at", s.now()).Error; err != nil {
			return fmt.Errorf("change password: revoke api keys: %w", err)
		}
		if err := forgetDevices(tx, u.ID); err != nil {
			return err
		}
		return notifyAccess(tx, change)
	})
	if err != nil {
		return err
	}
	s.forgetKeys()
	return nil
}

// SetStatus freezes or unfreezes a user for an admin, who may not change
// their own status. A frozen user's sessions end, their API keys stop
// working until unfrozen, and their open streams close.
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
		if err := audit.Record(tx, audit.Entry{AdminID: admin.UserID, Action: "user_" + status, Target: &userID, Subject: fmt.Sprintf("user %d", userID)}); err != nil {
			return err
		}
		if status == StatusFrozen {
			if err := tx.Where("user_id = ?", userID).Delete(&sessionRow{}).Error; err != nil {
				return fmt.Errorf("end sessions of frozen user: %w", err)
			}
			if err := forgetDevices(tx, userID); err != nil {
				return err
			}
			if err := notifyAccess(tx, AccessChange{UserID: userID}); err != nil {
				return err
			}
		}
		s.forgetKeys()
		return nil
	})
}

// Prune deletes expired sessions, devices, replay-window signatures and
// spent login windows. Every replica runs it now and then; it is idempotent.
func (s *Service) Prune(ctx context.Context) error {
	now := s.now()
	db := s.db.WithContext(ctx)
	return errors.Join(
		db.Exec("DELETE FROM sessions WHERE expires_at < ?", now).Error,
		db.Exec("DELETE FROM login_devices WHERE expires_at < ?", now).Error,
		db.Exec("DELETE FROM api_signatures WHERE expires_at < ?", now).Error,
		db.Exec("DELETE FROM login_attempts WHERE window_start < ?", now.Add(-limitIP.window)).Error,
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
