package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// AccessChannel is the NOTIFY channel on which a change of someone's
// access is announced, inside the transaction that makes it: every
// replica hears of it exactly when it takes effect, and ends the
// WebSocket streams that it revokes.
const AccessChannel = "exchange_access"

// AccessChange says which credentials of a user stopped working: one
// session, one API key, or (neither set) all of them but KeepSession.
type AccessChange struct {
	UserID      int64  `json:"user_id"`
	Session     string `json:"session,omitempty"`
	KeyID       string `json:"key_id,omitempty"`
	KeepSession string `json:"keep_session,omitempty"`
}

// Revokes reports whether the change ends a connection made with the
// given session id (hex) or key id.
func (a AccessChange) Revokes(userID int64, session, keyID string) bool {
	switch {
	case a.UserID != userID:
		return false
	case a.Session != "":
		return session == a.Session
	case a.KeyID != "":
		return keyID == a.KeyID
	}
	return session == "" || session != a.KeepSession
}

func notifyAccess(tx *gorm.DB, a AccessChange) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode access change: %w", err)
	}
	if err := tx.Exec("SELECT pg_notify(?, ?)", AccessChannel, string(b)).Error; err != nil {
		return fmt.Errorf("announce access change: %w", err)
	}
	return nil
}

// Credential is what a long-lived connection was authenticated with.
type Credential struct {
	UserID  int64
	Session string // hex session id; empty for an API key
	KeyID   string
}

// Credential is the principal's credential, for a connection to remember.
func (p Principal) Credential() Credential {
	c := Credential{UserID: p.UserID, KeyID: p.KeyID}
	if p.Session != nil {
		c.Session = p.Session.ID()
	}
	return c
}

// StillValid reports whether a connection's credential still grants
// access: the session or key exists and the user is not frozen; for a
// session, also until when (it is renewed while its owner uses the site).
// Streams ask after missing notifications (a reconnect of their listener)
// and when a session reaches its expiry.
func (s *Service) StillValid(ctx context.Context, c Credential) (expires time.Time, ok bool, err error) {
	var rows []time.Time
	if c.KeyID != "" {
		err = s.db.WithContext(ctx).Raw(`SELECT k.created_at FROM api_keys k JOIN users u ON u.id = k.user_id
			WHERE k.id = ? AND k.user_id = ? AND k.revoked_at IS NULL AND u.status = ?`, c.KeyID, c.UserID, StatusActive).Scan(&rows).Error
	} else {
		err = s.db.WithContext(ctx).Raw(`SELECT s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.token_hash = decode(?, 'hex') AND s.user_id = ? AND s.expires_at > ? AND u.status = ?`, c.Session, c.UserID, s.now(), StatusActive).Scan(&rows).Error
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("check credential: %w", err)
	}
	if len(rows) == 0 {
		return time.Time{}, false, nil
	}
	if c.KeyID != "" {
		return time.Time{}, true, nil
	}
	return rows[0], true, nil
}

// AccessChanged is told of every change announced on AccessChannel, from
// any replica: keys this replica cached for the user must be read afresh,
// so a revoked key stops working here at once, not after the cache's ttl.
func (s *Service) AccessChanged(AccessChange) { s.forgetKeys() }
