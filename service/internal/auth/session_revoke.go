package auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// sessionListSize bounds the account page's list; a user rarely has more
// than a handful open.
const sessionListSize = 100

// SessionInfo is one open session as its owner sees it.
type SessionInfo struct {
	ID         int64     `json:"id,string"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// Current is the session the list was asked for with.
	Current bool `json:"current"`
}

// endedSession is what a revocation's DELETE returns.
type endedSession struct{ TokenHash []byte }

// Sessions lists the user's open sessions: the caller's first (however
// many others there are), then the most recently used.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]SessionInfo, error) {
	var current []byte
	if p.Session != nil {
		current = p.Session.tokenHash
	}
	out := []SessionInfo{}
	err := s.db.WithContext(ctx).Raw(`SELECT id, ip, user_agent, created_at, last_seen_at, token_hash = ? AS current
		FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY current DESC, last_seen_at DESC, id DESC LIMIT ?`,
		current, p.UserID, s.now(), sessionListSize).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", p.UserID, err)
	}
	return out, nil
}

// RevokeSession ends one of the user's sessions and the streams opened
// with it, on every replica. It reports whether that was the caller's own
// (a logout: the caller should forget its cookie). Another user's session
// is not found.
func (s *Service) RevokeSession(ctx context.Context, p Principal, id int64) (own bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var hashes []endedSession
		if err := tx.Raw("DELETE FROM sessions WHERE id = ? AND user_id = ? RETURNING token_hash", id, p.UserID).Scan(&hashes).Error; err != nil {
			return fmt.Errorf("revoke session %d: %w", id, err)
		}
		if len(hashes) == 0 {
			return apierr.New(apierr.NotFound, "session %d not found", id)
		}
		own = p.Session != nil && bytes.Equal(hashes[0].TokenHash, p.Session.tokenHash)
		return notifyAccess(tx, AccessChange{UserID: p.UserID, Session: hex.EncodeToString(hashes[0].TokenHash)})
	})
	return own, err
}

// RevokeOtherSessions ends every session of the user but the caller's,
// and their streams. API keys stay: they are revoked one by one. Each
// ended session is announced by itself, because an announcement of "all
// but this session" also ends the streams of API keys.
func (s *Service) RevokeOtherSessions(ctx context.Context, p Principal) (int, error) {
	if p.Session == nil {
		return 0, apierr.New(apierr.Forbidden, "this request needs a logged-in session, not an API key")
	}
	var n int
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var hashes []endedSession
		if err := tx.Raw("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ? RETURNING token_hash",
			p.UserID, p.Session.tokenHash).Scan(&hashes).Error; err != nil {
			return fmt.Errorf("revoke other sessions of user %d: %w", p.UserID, err)
		}
		for _, h := range hashes {
			if err := notifyAccess(tx, AccessChange{UserID: p.UserID, Session: hex.EncodeToString(h.TokenHash)}); err != nil {
				return err
			}
		}
		n = len(hashes)
		return nil
	})
	return n, err
}
