package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// keyIDPattern is what CreateAPIKey makes: "ak_" and 12 random bytes in
// base64url. Anything else is refused before it reaches a query.
var keyIDPattern = regexp.MustCompile(`^ak_[A-Za-z0-9_-]{16}$`)

// SignatureWindow is how far a request's timestamp may be from server time.
// Seen signatures are remembered for twice that, so none is replayable.
const SignatureWindow = 30 * time.Second

const maxKeysPerUser = 20

// APIKey is a key as listed to its owner; the secret is never listed.
type APIKey struct {
	ID        string     `json:"key_id"`
	Label     string     `json:"label"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type apiKeyRow struct {
	ID           string `gorm:"primaryKey"`
	UserID       int64
	Label        string
	SecretSealed []byte
	Scopes       string
	CreatedAt    time.Time
	RevokedAt    *time.Time
}

func (apiKeyRow) TableName() string { return "api_keys" }

func (r apiKeyRow) public() APIKey {
	return APIKey{ID: r.ID, Label: r.Label, Scopes: strings.Split(r.Scopes, ","), CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
}

// ParseScopes validates scope names from a client.
func ParseScopes(names []string) (Scope, string, error) {
	var s Scope
	for _, n := range names {
		found := false
		for _, sn := range scopeNames {
			if sn.name == n {
				s |= sn.s
				found = true
			}
		}
		if !found {
			return 0, "", apierr.New(apierr.InvalidScope, "unknown scope %q; allowed: read, trade, withdraw", n)
		}
	}
	if s == 0 {
		return 0, "", apierr.New(apierr.InvalidScope, "at least one scope is required: read, trade, withdraw")
	}
	var parts []string
	for _, sn := range scopeNames {
		if s&sn.s != 0 {
			parts = append(parts, sn.name)
		}
	}
	return s, strings.Join(parts, ","), nil
}

// CreateAPIKey makes a key and returns its secret, which is never shown again.
// With two-factor authentication on, it takes a current code (StepUp):
// a key is a credential as strong as the session that makes it.
func (s *Service) CreateAPIKey(ctx context.Context, p Principal, label string, scopes []string, code string) (APIKey, string, error) {
	if len(label) > 64 {
		return APIKey{}, "", apierr.New(apierr.InvalidRequest, "label must be at most 64 characters")
	}
	_, canonical, err := ParseScopes(scopes)
	if err != nil {
		return APIKey{}, "", err
	}
	if err := s.StepUp(ctx, p, code); err != nil {
		return APIKey{}, "", err
	}
	id := "ak_" + randomToken(12)
	secret := randomToken(32)
	sealed, err := s.seal(id, secret)
	if err != nil {
		return APIKey{}, "", err
	}
	row := apiKeyRow{ID: id, UserID: p.UserID, Label: label, SecretSealed: sealed, Scopes: canonical, CreatedAt: s.now()}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The user's row lock makes parallel creations count one by one.
		if err := tx.Exec("SELECT 1 FROM users WHERE id = ? FOR UPDATE", p.UserID).Error; err != nil {
			return err
		}
		var active int64
		if err := tx.Model(&apiKeyRow{}).Where("user_id = ? AND revoked_at IS NULL", p.UserID).Count(&active).Error; err != nil {
			return err
		}
		if active >= maxKeysPerUser {
			return apierr.New(apierr.LimitExceeded, "at most %d active API keys; revoke one first", maxKeysPerUser)
		}
		return tx.Create(&row).Error
	})
	if _, client := apierr.As(err); err != nil && !client {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	if err != nil {
		return APIKey{}, "", err
	}
	return row.public(), secret, nil
}

// ListAPIKeys lists the user's keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, userID int64) ([]APIKey, error) {
	var rows []apiKeyRow
	if err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]APIKey, len(rows))
	for i, r := range rows {
		out[i] = r.public()
	}
	return out, nil
}

// RevokeAPIKey revokes one of the user's keys, and closes the streams
// opened with it; revoking twice is harmless.
func (s *Service) RevokeAPIKey(ctx context.Context, userID int64, keyID string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&apiKeyRow{}).
			Where("id = ? AND user_id = ?", keyID, userID).
			Update("revoked_at", gorm.Expr("coalesce(revoked_at, ?)", s.now()))
		if res.Error != nil {
			return fmt.Errorf("revoke api key: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return apierr.New(apierr.NotFound, "API key %q not found", keyID)
		}
		return notifyAccess(tx, AccessChange{UserID: userID, KeyID: keyID})
	})
	if err != nil {
		return err
	}
	s.forgetKeys(keyID)
	return nil
}

// SignedRequest is what a client sends to authenticate with an API key.
type SignedRequest struct {
	KeyID     string
	Timestamp string
	Signature string // hex
	Method    string
	PathQuery string
	Body      []byte
}

// VerifySignature authenticates a signed request: the timestamp is within
// the window, the HMAC matches, the key is live, and the signature has not
// been seen before by any replica.
func (s *Service) VerifySignature(ctx context.Context, r SignedRequest) (Principal, error) {
	ts, err := strconv.ParseInt(r.Timestamp, 10, 64)
	if err != nil || !keyIDPattern.MatchString(r.KeyID) {
		return Principal{}, errNoPrincipal
	}
	if d := s.now().Sub(time.Unix(ts, 0)); d > SignatureWindow || d < -SignatureWindow {
		return Principal{}, apierr.New(apierr.Unauthorized, "EX-TIMESTAMP is more than %d s from server time", int(SignatureWindow.Seconds()))
	}
	sig, err := hex.DecodeString(r.Signature)
	if err != nil || len(sig) != sha256.Size {
		return Principal{}, errNoPrincipal
	}
	key, err := s.lookupKey(ctx, r.KeyID)
	if err != nil {
		return Principal{}, err
	}
	if !hmac.Equal(sig, Sign(key.secret, r.Timestamp, r.Method, r.PathQuery, r.Body)) {
		return Principal{}, errNoPrincipal
	}
	if key.userStatus != StatusActive {
		return Principal{}, apierr.New(apierr.AccountFrozen, "this account is frozen; contact support")
	}
	fresh, err := s.signatures.record(ctx, sig, s.now().Add(2*SignatureWindow))
	if err != nil {
		return Principal{}, err
	}
	if !fresh {
		return Principal{}, apierr.New(apierr.Unauthorized, "this signature was already used; sign every request afresh")
	}
	return key.principal, nil
}

// keyCacheTTL bounds how long a replica keeps using a key's record: a key
// revoked (or a user frozen) on another replica stops working within it.
// On the replica that revoked it, at once.
const keyCacheTTL = 5 * time.Second

type cachedKey struct {
	principal  Principal
	secret     string
	userStatus string
	loaded     time.Time
}

// lookupKey returns a live key, from the cache while it is fresh. Unknown
// keys are not cached, so they cannot fill memory.
func (s *Service) lookupKey(ctx context.Context, keyID string) (cachedKey, error) {
	s.keysMu.Lock()
	k, ok := s.keys[keyID]
	s.keysMu.Unlock()
	if ok && s.now().Sub(k.loaded) < keyCacheTTL {
		return k, nil
	}
	// A revocation that lands while the record is read must not be undone
	// by caching what was read before it.
	gen := s.keysGen.Load()
	var row struct {
		ID           string
		UserID       int64
		SecretSealed []byte
		Scopes       string
		AccountID    int64
		Email        string
		Role         string
		UserStatus   string
	}
	err := s.db.WithContext(ctx).Raw(`
		SELECT k.id, k.user_id, k.secret_sealed, k.scopes, a.id AS account_id, u.email, u.role, u.status AS user_status
		FROM api_keys k JOIN users u ON u.id = k.user_id JOIN accounts a ON a.user_id = u.id
		WHERE k.id = ? AND k.revoked_at IS NULL`, keyID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		s.forgetKeys(keyID)
		return cachedKey{}, errNoPrincipal
	}
	if err != nil {
		return cachedKey{}, fmt.Errorf("load api key: %w", err)
	}
	secret, err := s.unseal(row.ID, row.SecretSealed)
	if err != nil {
		return cachedKey{}, fmt.Errorf("api key %s: %w", row.ID, err)
	}
	scopes, _, err := ParseScopes(strings.Split(row.Scopes, ","))
	if err != nil {
		return cachedKey{}, fmt.Errorf("api key %s scopes: %w", row.ID, err)
	}
	k = cachedKey{
		principal:  Principal{UserID: row.UserID, AccountID: row.AccountID, Email: row.Email, Role: row.Role, Scopes: scopes, KeyID: row.ID},
		secret:     secret,
		userStatus: row.UserStatus,
		loaded:     s.now(),
	}
	s.keysMu.Lock()
	if s.keysGen.Load() == gen {
		s.keys[keyID] = k
	}
	s.keysMu.Unlock()
	return k, nil
}

// forgetKeys drops cached keys: the given ones, or all when none are given.
func (s *Service) forgetKeys(ids ...string) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	s.keysGen.Add(1)
	if len(ids) == 0 {
		clear(s.keys)
	}
	for _, id := range ids {
		delete(s.keys, id)
	}
}

// Sign computes the request signature the API contract defines:
// HMAC-SHA256(secret, timestamp + METHOD + path_with_query + body).
func Sign(secret, timestamp, method, pathQuery string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte(strings.ToUpper(method)))
	m.Write([]byte(pathQuery))
	m.Write(body)
	return m.Sum(nil)
}

func deriveSealKey(secretKey []byte) ([]byte, error) {
	if len(secretKey) < 32 {
		return nil, errors.New("auth: secret key must be at least 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, secretKey, nil, "exchange api-key secrets v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	return k, nil
}

// seal encrypts an API key secret with AES-256-GCM; the key id is the
// additional data, so a sealed secret cannot be moved to another key's row.
func (s *Service) seal(keyID, secret string) ([]byte, error) {
	aead, err := s.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, []byte(secret), []byte(keyID)), nil
}

func (s *Service) unseal(keyID string, sealed []byte) (string, error) {
	aead, err := s.aead()
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed secret too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(keyID))
	if err != nil {
		return "", errors.New("cannot unseal secret: was SECRET_KEY changed?")
	}
	return string(plain), nil
}

func (s *Service) aead() (cipher.AEAD, error) {
	if s.sealKey == nil {
		return nil, errors.New("no SECRET_KEY configured to seal API key secrets")
	}
	block, err := aes.NewCipher(s.sealKey)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	return cipher.NewGCM(block)
}
