package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// Recovery codes stand in for the authenticator app when it is lost: ten,
// made when two-factor authentication is turned on and shown once, each
// good for one use. A code is 50 random bits, written xxxxx-xxxxx in
// lower-case base32. Only an HMAC of each is stored, under a key derived
// from SECRET_KEY, so the table alone gives nothing away.
const recoveryCodeCount = 10

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func deriveRecoveryKey(secretKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, secretKey, nil, "exchange recovery codes v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive recovery key: %w", err)
	}
	return k, nil
}

// normaliseRecoveryCode returns the code's 10 characters in upper case, or
// "" when code cannot be a recovery code.
func normaliseRecoveryCode(code string) string {
	c := strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(code, "-", ""), " ", ""))
	if len(c) != 10 {
		return ""
	}
	for _, r := range c {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return ""
		}
	}
	return c
}

func (s *Service) recoveryHash(userID int64, normalised string) ([]byte, error) {
	if s.recoveryKey == nil {
		return nil, errors.New("no SECRET_KEY configured for recovery codes")
	}
	m := hmac.New(sha256.New, s.recoveryKey)
	m.Write([]byte(strconv.FormatInt(userID, 10) + ":" + normalised))
	return m.Sum(nil), nil
}

// newRecoveryCodes replaces the user's recovery codes inside tx and
// returns the new ones, to be shown once.
func (s *Service) newRecoveryCodes(tx *gorm.DB, userID int64) ([]string, error) {
	if err := tx.Exec("DELETE FROM recovery_codes WHERE user_id = ?", userID).Error; err != nil {
		return nil, fmt.Errorf("replace recovery codes: %w", err)
	}
	codes := make([]string, recoveryCodeCount)
	for i := range codes {
		b := make([]byte, 7)
		rand.Read(b) // never fails on Linux since Go 1.24
		raw := recoveryEncoding.EncodeToString(b)[:10]
		h, err := s.recoveryHash(userID, raw)
		if err != nil {
			return nil, err
		}
		if err := tx.Exec("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, decode(?, 'hex'))", userID, hex.EncodeToString(h)).Error; err != nil {
			return nil, fmt.Errorf("store recovery code: %w", err)
		}
		codes[i] = strings.ToLower(raw[:5] + "-" + raw[5:])
	}
	return codes, nil
}

// consumeRecoveryCode uses up one unused code; the condition makes two
// requests racing with one code accept only one.
func (s *Service) consumeRecoveryCode(ctx context.Context, userID int64, normalised string) error {
	h, err := s.recoveryHash(userID, normalised)
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Exec("UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = decode(?, 'hex') AND used_at IS NULL",
		s.now(), userID, hex.EncodeToString(h))
	if res.Error != nil {
		return fmt.Errorf("use recovery code: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return apierr.New(apierr.InvalidTOTP, "the recovery code is wrong or was already used")
	}
	return nil
}

// consumeSecondFactor accepts a current two-factor code or an unused
// recovery code.
func (s *Service) consumeSecondFactor(ctx context.Context, u User, code string) error {
	if rc := normaliseRecoveryCode(code); rc != "" {
		return s.consumeRecoveryCode(ctx, u.ID, rc)
	}
	return s.consumeTOTP(ctx, u, code)
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw("SELECT count(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", userID).Row().Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return int(n), nil
}

// StepUp asks a user with two-factor authentication for a code again
// before a sensitive action (a withdrawal, a new API key, a new password,
// turning two-factor off), so that a stolen session alone cannot do them.
// Users without it pass. Codes are throttled like logins: five wrong ones
// per quarter hour.
func (s *Service) StepUp(ctx context.Context, p Principal, code string) error {
	u, err := s.user(ctx, p.UserID)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled {
		return nil
	}
	if strings.TrimSpace(code) == "" {
		return apierr.New(apierr.StepUpRequired, "two-factor authentication is on: this action needs totp_code, a current code from the authenticator app (or a recovery code)")
	}
	attempts := []attempt{{limitStepUp, strconv.FormatInt(u.ID, 10)}}
	if err := s.reserve(ctx, attempts); err != nil {
		return err
	}
	if err := s.consumeSecondFactor(ctx, u, code); err != nil {
		if _, client := apierr.As(err); client {
			return apierr.New(apierr.StepUpRequired, "the two-factor code is wrong or was already used; wait for the next code")
		}
		return err
	}
	return s.release(ctx, attempts, true)
}

// StepUpWithdrawal is the step-up a withdrawal asks for: a session must
// show a current two-factor code again, while an API key asks none, as
// its withdraw scope was granted under a code when the key was made.
func (s *Service) StepUpWithdrawal(ctx context.Context, p Principal, code string) error {
	if p.Session == nil {
		return nil
	}
	return s.StepUp(ctx, p, code)
}
