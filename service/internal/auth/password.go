package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane). Each hash costs ~20 ms of one core, which bounds what an attacker
// with a stolen table can try, and what a login flood can cost us.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// Password rules, after NIST SP 800-63B: a length floor, no composition
// rules, and no password that is common, breached or guessable from the
// account itself. The estimator (zxcvbn, its dictionaries compiled into
// the binary) scores 0 to 4; 3 means "safely unguessable" (~10^8 guesses
// and more), which is what it takes to pass.
const (
	minPasswordLength = 12
	maxPasswordLength = 128
	minPasswordScore  = 3
)

// checkPasswordPolicy refuses a password that is too short, too long, or
// guessable. The email and the site's name count as guessable inputs.
func checkPasswordPolicy(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return apierr.New(apierr.InvalidPassword, "the password is not valid text")
	case n < minPasswordLength:
		return apierr.New(apierr.WeakPassword, "the password must be at least %d characters long; a few unrelated words make a good one", minPasswordLength)
	case n > maxPasswordLength:
		return apierr.New(apierr.InvalidPassword, "the password must be at most %d characters long", maxPasswordLength)
	case strings.EqualFold(password, email):
		return apierr.New(apierr.WeakPassword, "the password must not be the email address")
	}
	local, domain, _ := strings.Cut(email, "@")
	inputs := []string{email, local, domain, "exchange", "crypto", "bitcoin"}
	if zxcvbn.PasswordStrength(password, inputs).Score < minPasswordScore {
		return apierr.New(apierr.WeakPassword, "this password is too common or too easy to guess (it is on lists of used passwords, or made of a word, a name or a pattern); choose a longer, less predictable one")
	}
	return nil
}

// hashPassword returns a PHC-format argon2id string.
func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// verifyPassword checks password against a PHC argon2id string, using the
// parameters stored in it so that raising them later keeps old hashes valid.
func verifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil {
		return false, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
