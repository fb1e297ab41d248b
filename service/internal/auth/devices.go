package auth

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// DeviceCookie marks a browser (or a client with a cookie jar) that has
// logged in to an account before; see the login limits in throttle.go.
const DeviceCookie = "exchange_device"

const deviceTTL = 365 * 24 * time.Hour

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

// rememberDevice issues a device cookie value for user.
func (s *Service) rememberDevice(ctx context.Context, userID int64) (string, time.Time, error) {
	token, expires := randomToken(32), s.now().Add(deviceTTL)
	// Byte strings travel as hex: the ORM would expand a []byte argument.
	if err := s.db.WithContext(ctx).Exec("INSERT INTO login_devices (token_hash, user_id, expires_at) VALUES (decode(?, 'hex'), ?, ?)",
		hex.EncodeToString(hashToken(token)), userID, expires).Error; err != nil {
		return "", time.Time{}, fmt.Errorf("remember device: %w", err)
	}
	return token, expires, nil
}

// NewDeviceCookie is the cookie for a device token: HttpOnly, and sent
// only to this site.
func NewDeviceCookie(token string, expires time.Time, secure bool) *http.Cookie {
	return &http.Cookie{Name: DeviceCookie, Value: token, Path: "/", Expires: expires, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
}
