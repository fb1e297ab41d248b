package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// TOTP parameters: RFC 6238's defaults (30 s steps, 6 digits, SHA-1),
// which every authenticator app supports. A code is accepted one step
// either side of now, for clocks that drift and people who type slowly.
const (
	totpIssuer = "Exchange"
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPState is a user's two-factor authentication as the account page
// shows it.
type TOTPState struct {
	Enabled bool
	// Pending is the key of an enrolment that no code has confirmed yet,
	// to show as a QR code; nil otherwise.
	Pending *otp.Key
}

// TOTP reports the user's two-factor state.
func (s *Service) TOTP(ctx context.Context, userID int64) (TOTPState, error) {
	u, err := s.user(ctx, userID)
	if err != nil {
		return TOTPState{}, err
	}
	if u.TOTPEnabled || u.TOTPSecretSealed == nil {
		return TOTPState{Enabled: u.TOTPEnabled}, nil
	}
	key, err := s.totpKey(u)
	if err != nil {
		return TOTPState{}, err
	}
	return TOTPState{Pending: key}, nil
}

// StartTOTP begins enrolment with a fresh secret, replacing any earlier
// unconfirmed one. Login does not ask for codes until EnableTOTP.
func (s *Service) StartTOTP(ctx context.Context, p Principal) error {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u.TOTPEnabled {
		return apierr.New(apierr.Conflict, "two-factor authentication is already on; turn it off first to set up a new device")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Email, Period: totpPeriod})
	if err != nil {
		return fmt.Errorf("generate totp secret: %w", err)
	}
	sealed, err := s.seal(totpSealID(u.ID), key.Secret())
	if err != nil {
		return err
	}
	return s.updateTOTP(ctx, u.ID, map[string]any{"totp_secret_sealed": sealed, "totp_enabled": false, "totp_last_step": 0})
}

// EnableTOTP turns two-factor authentication on once code shows that the
// user's app holds the pending secret, and returns the recovery codes,
// which are never shown again. It takes the current password: a stolen
// session alone must not tie the account to the thief's phone. A mail
// tells the owner.
func (s *Service) EnableTOTP(ctx context.Context, p Principal, password, code string) ([]string, error) {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, apierr.New(apierr.Conflict, "two-factor authentication is already on")
	}
	if u.TOTPSecretSealed == nil {
		return nil, apierr.New(apierr.Conflict, "start the two-factor setup first")
	}
	if err := s.checkCurrentPassword(ctx, u, password); err != nil {
		return nil, err
	}
	if err := s.consumeTOTP(ctx, u, code); err != nil {
		return nil, err
	}
	var codes []string
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if codes, err = s.newRecoveryCodes(tx, u.ID); err != nil {
			return err
		}
		if err := enqueueMail(tx, totpMail(u.Email, true)); err != nil {
			return err
		}
		return tx.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"totp_enabled": true, "updated_at": s.now()}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("enable totp of user %d: %w", u.ID, err)
	}
	return codes, nil
}

// DisableTOTP turns two-factor authentication off; it takes the password
// and a current code (or a recovery code), so neither a stolen session nor
// a stolen phone alone can remove it.
func (s *Service) DisableTOTP(ctx context.Context, p Principal, password, code string) error {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled {
		return apierr.New(apierr.Conflict, "two-factor authentication is not on")
	}
	if err := s.checkCurrentPassword(ctx, u, password); err != nil {
		return err
	}
	if err := s.StepUp(ctx, p, code); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM recovery_codes WHERE user_id = ?", u.ID).Error; err != nil {
			return fmt.Errorf("disable totp: %w", err)
		}
		if err := enqueueMail(tx, totpMail(u.Email, false)); err != nil {
			return err
		}
		return tx.Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{
			"totp_secret_sealed": nil, "totp_enabled": false, "totp_last_step": 0, "updated_at": s.now()}).Error
	})
}

// consumeTOTP accepts code if it is current and its time step is later
// than the last one accepted, and records the step: each code works once.
func (s *Service) consumeTOTP(ctx context.Context, u User, code string) error {
	invalid := apierr.New(apierr.InvalidTOTP, "the two-factor code is wrong or was already used; wait for the next code")
	secret, err := s.unseal(totpSealID(u.ID), u.TOTPSecretSealed)
	if err != nil {
		return fmt.Errorf("totp of user %d: %w", u.ID, err)
	}
	step, ok := matchStep(secret, strings.ReplaceAll(code, " ", ""), s.now())
	if !ok {
		return invalid
	}
	// The condition makes two logins racing with one code accept only one.
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND totp_last_step < ?", u.ID, step).Update("totp_last_step", step)
	if res.Error != nil {
		return fmt.Errorf("record totp step: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return invalid
	}
	return nil
}

// matchStep returns the time step, within the skew, whose code is code.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != int(otp.DigitsSix) {
		return 0, false
	}
	for d := -totpSkew; d <= totpSkew; d++ {
		t := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

// totpKey rebuilds the otpauth key (secret, issuer, account) to show.
func (s *Service) totpKey(u User) (*otp.Key, error) {
	secret, err := s.unseal(totpSealID(u.ID), u.TOTPSecretSealed)
	if err != nil {
		return nil, fmt.Errorf("totp of user %d: %w", u.ID, err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("totp of user %d: malformed secret", u.ID)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Email, Period: totpPeriod, Secret: raw})
	if err != nil {
		return nil, fmt.Errorf("totp key of user %d: %w", u.ID, err)
	}
	return key, nil
}

// totpSealID is the sealing's additional data: a sealed secret cannot be
// moved to another user's row, nor pass for an API key secret.
func totpSealID(userID int64) string { return "totp:" + strconv.FormatInt(userID, 10) }

func (s *Service) user(ctx context.Context, id int64) (User, error) {
	var u User
	err := s.db.WithContext(ctx).Take(&u, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, apierr.New(apierr.NotFound, "user %d not found", id)
	}
	if err != nil {
		return u, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}

func (s *Service) updateTOTP(ctx context.Context, userID int64, cols map[string]any) error {
	cols["updated_at"] = s.now()
	if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID).Updates(cols).Error; err != nil {
		return fmt.Errorf("update totp of user %d: %w", userID, err)
	}
	return nil
}
