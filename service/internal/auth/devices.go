package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gorm.io/gorm"
)

// DeviceCookie marks a browser (or a client with a cookie jar) that has
// logged in to an account before; see the login limits in throttle.go.
const DeviceCookie = "exchange_device"

const deviceTTL = 365 * 24 * time.Hour

// maxDevices bounds the browsers a user is known on: each is a way past
// the account's login ceiling, so an attacker who once had the password
// must not collect them.
const maxDevices = 10

// knownDevice returns the hash of token when it is a live device cookie of
// user; nil otherwise.
func (s *Service) knownDevice(ctx context.Context, token string, userID int64) ([]byte, error) {
	if token == "" || userID == 0 || len(token) > 64 {
		return nil, nil
	}
	th := hashToken(token)
	var owner int64
	err := s.db.WithContext(ctx).Raw("SELECT user_id FROM login_devices WHERE token_hash = decode(?, 'hex') AND expires_at > ?", hex.EncodeToString(th), s.now()).Row().Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) || err == nil && owner != userID {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up device: %w", err)
	}
	return th, nil
}

// rememberDevice issues a device cookie value for user, forgetting the
// user's oldest devices beyond maxDevices.
func (s *Service) rememberDevice(ctx context.Context, userID int64) (string, time.Time, error) {
	token, expires := randomToken(32), s.now().Add(deviceTTL)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Byte strings travel as hex: the ORM would expand a []byte argument.
		if err := tx.Exec("INSERT INTO login_devices (token_hash, user_id, expires_at) VALUES (decode(?, 'hex'), ?, ?)",
			hex.EncodeToString(hashToken(token)), userID, expires).Error; err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM login_devices WHERE user_id = ? AND token_hash NOT IN
			(SELECT token_hash FROM login_devices WHERE user_id = ? ORDER BY created_at DESC, expires_at DESC LIMIT ?)`, userID, userID, maxDevices).Error
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("remember device: %w", err)
	}
	return token, expires, nil
}

// forgetDevices ends every device's standing: after a password change or
// a freeze, a browser's past logins vouch for nothing.
func forgetDevices(tx *gorm.DB, userID int64) error {
	if err := tx.Exec("DELETE FROM login_devices WHERE user_id = ?", userID).Error; err != nil {
		return fmt.Errorf("forget devices: %w", err)
	}
	return nil
}

// NewDeviceCookie is the cookie for a device token: HttpOnly, and sent
// only to this site.
func NewDeviceCookie(token string, expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{Name: DeviceCookie, Value: token, Path: "/", Expires: expires, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
}
