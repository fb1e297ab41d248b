package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

// limit is how many attempts one key of a scope may make per window.
type limit struct {
	scope  string
	max    int
	window time.Duration
}

// The login limits. A guess counts the moment it arrives, before the
// password is checked, so parallel guesses cannot outrun the count.
//
//   - accountIP: one account from one IP, the tight limit. A stranger who
//     guesses locks out only themselves.
//   - device: one account from a browser that logged in to it before
//     (device cookie). Such a browser is not subject to the ceilings
//     below, so nobody elsewhere can lock its owner out.
//   - account and ip: slower ceilings, on guesses spread over many IPs
//     (one account) or many accounts (one IP). A busy NAT only reaches the
//     IP ceiling through guessing, and even then its known devices pass.
//   - stepUp: two-factor codes asked for again before a sensitive action.
//   - password: the current password asked for again (to change it, to
//     turn two-factor off), so a stolen session cannot guess it faster
//     than a login could.
var (
	limitAccountIP = limit{"account_ip", 5, 15 * time.Minute}
	limitDevice    = limit{"device", 5, 15 * time.Minute}
	limitAccount   = limit{"account", 20, time.Hour}
	limitIP        = limit{"ip", 100, time.Hour}
	limitStepUp    = limit{"step_up", 5, 15 * time.Minute}
	limitPassword  = limit{"password", 5, 15 * time.Minute}
)

// attempt is one limit applied to one key.
type attempt struct {
	limit
	key string
}

// reserveSQL counts one attempt unless the key is at its limit inside the
// current window; a window that has passed starts again. It returns no
// row when the attempt is over the limit. The row lock it takes makes
// concurrent attempts on one key count one at a time.
const reserveSQL = `INSERT INTO login_attempts AS a (scope, key, attempts, window_start) VALUES (?, ?, 1, ?)
	ON CONFLICT (scope, key) DO UPDATE SET
		attempts = CASE WHEN a.window_start <= EXCLUDED.window_start - make_interval(secs => ?) THEN 1 ELSE a.attempts + 1 END,
		window_start = CASE WHEN a.window_start <= EXCLUDED.window_start - make_interval(secs => ?) THEN EXCLUDED.window_start ELSE a.window_start END
	WHERE a.window_start <= EXCLUDED.window_start - make_interval(secs => ?) OR a.attempts < ?
	RETURNING attempts`

// reserve counts one attempt against every limit, or against none: an
// attempt refused by one limit must not use up another (a stranger locked
// out of one account from one IP must not, by trying on, use up the
// account's ceiling). The limits are taken in a fixed order, so
// concurrent reservations cannot deadlock.
func (s *Service) reserve(ctx context.Context, attempts []attempt) error {
	now := s.now()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, a := range attempts {
			secs := a.window.Seconds()
			var n []int
			if err := tx.Raw(reserveSQL, a.scope, a.key, now, secs, secs, secs, a.max).Scan(&n).Error; err != nil {
				return fmt.Errorf("count %s attempt: %w", a.scope, err)
			}
			if len(n) == 1 {
				continue
			}
			var start time.Time
			if err := tx.Raw("SELECT window_start FROM login_attempts WHERE scope = ? AND key = ?", a.scope, a.key).Row().Scan(&start); err != nil {
				return fmt.Errorf("read %s window: %w", a.scope, err)
			}
			wait := start.Add(a.window).Sub(now)
			return apierr.Throttled(int(math.Ceil(wait.Seconds())), "too many attempts; try again in %s", roundUp(wait))
		}
		return nil
	})
}

// release hands back attempts that turned out not to be failed guesses
// (a login that succeeded, a check the server was too busy to run).
// forget also clears the keys' windows: a successful login from an IP or
// device starts it afresh.
func (s *Service) release(ctx context.Context, attempts []attempt, forget bool) error {
	for _, a := range attempts {
		q := "UPDATE login_attempts SET attempts = greatest(attempts - 1, 0) WHERE scope = ? AND key = ?"
		if forget && (a.limit == limitAccountIP || a.limit == limitDevice || a.limit == limitStepUp || a.limit == limitPassword) {
			q = "DELETE FROM login_attempts WHERE scope = ? AND key = ?"
		}
		if err := s.db.WithContext(ctx).Exec(q, a.scope, a.key).Error; err != nil {
			return fmt.Errorf("release %s attempt: %w", a.scope, err)
		}
	}
	return nil
}

// loginAttempts are the limits a login for email from ip counts against:
// a known device's own, or the stranger's three.
func loginAttempts(email, ip string, device []byte) []attempt {
	if device != nil {
		return []attempt{{limitDevice, email + "|" + hex.EncodeToString(device)}}
	}
	return []attempt{{limitAccountIP, email + "|" + ip}, {limitAccount, email}, {limitIP, ip}}
}

func roundUp(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(math.Ceil(d.Seconds())))
	}
	return fmt.Sprintf("%d minutes", int(math.Ceil(d.Minutes())))
}

// errBusy is the answer when every password check slot is taken.
var errBusy = apierr.Throttled(1, "the server is busy checking passwords; try again in a second")

// gate bounds how many password hashes run at once, and how many requests
// may wait for one: argon2id costs ~20 ms of a core and 19 MiB, so a burst
// of logins must queue briefly or be told to come back, never pile up
// until requests time out.
type gate struct {
	slots   chan struct{}
	waiting chan struct{}
	maxWait time.Duration
}

func newGate(running, queued int, maxWait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, running), waiting: make(chan struct{}, running+queued), maxWait: maxWait}
}

// enter takes a slot, waiting up to maxWait; the caller must call the
// returned release.
func (g *gate) enter(ctx context.Context) (func(), error) {
	select {
	case g.waiting <- struct{}{}:
	default:
		return nil, errBusy
	}
	t := time.NewTimer(g.maxWait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots; <-g.waiting }, nil
	case <-t.C:
		<-g.waiting
		return nil, errBusy
	case <-ctx.Done():
		<-g.waiting
		return nil, ctx.Err()
	}
}

// hash and verify run the password functions inside the gate.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	done, err := s.gate.enter(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	return hashPassword(password)
}

// checkCurrentPassword verifies a signed-in user's password again, under
// its own limit: a wrong one is invalid_credentials and counts.
func (s *Service) checkCurrentPassword(ctx context.Context, u User, password string) error {
	attempts := []attempt{{limitPassword, strconv.FormatInt(u.ID, 10)}}
	if err := s.reserve(ctx, attempts); err != nil {
		return err
	}
	ok, err := s.verify(ctx, u.PasswordHash, password)
	switch {
	case err != nil && isBusy(err):
		_ = s.release(ctx, attempts, false)
		return err
	case err != nil:
		return fmt.Errorf("check password of user %d: %w", u.ID, err)
	case !ok:
		return apierr.New(apierr.InvalidCredentials, "the current password is wrong")
	}
	return s.release(ctx, attempts, true)
}

func (s *Service) verify(ctx context.Context, encoded, password string) (bool, error) {
	done, err := s.gate.enter(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	return verifyPassword(encoded, password)
}

// isBusy reports a refusal by the gate (not a wrong password).
func isBusy(err error) bool { return errors.Is(err, errBusy) }
