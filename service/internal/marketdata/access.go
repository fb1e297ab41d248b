package marketdata

import (
	"context"
	"encoding/json"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
)

// sessionCheckEvery is how often sessions past their expiry are looked up
// again: a renewed session keeps its stream, a lapsed one loses it.
const sessionCheckEvery = 15 * time.Second

// accessChanged ends the streams a change of access revokes, on this
// replica; every replica hears the same notification.
func (f *Feed) accessChanged(payload string) {
	var change auth.AccessChange
	if err := json.Unmarshal([]byte(payload), &change); err != nil || change.UserID == 0 {
		f.log.Warn("malformed access change", "payload_bytes", len(payload))
		return
	}
	if f.gate != nil {
		f.gate.AccessChanged(change)
	}
	if n := f.hub.Revoke(change); n > 0 {
		f.log.Info("streams closed: access ended", "user_id", change.UserID, "streams", n)
	}
}

// recheck asks whether each stream's credential still holds, and ends
// those whose does not.
func (f *Feed) recheck(ctx context.Context, clients []*Client) {
	if f.gate == nil {
		return
	}
	for _, c := range clients {
		expires, ok, err := f.gate.StillValid(ctx, c.access.Credential)
		if err != nil {
			// Unknown: a stream that cannot be checked is not one to keep.
			f.log.Warn("stream access check failed; closing the stream", "user_id", c.UserID, "error", err.Error())
			c.revoke()
			continue
		}
		if !ok {
			c.revoke()
			continue
		}
		if !expires.IsZero() {
			c.expires.Store(expires.UnixNano())
		}
	}
}

// expireSessions rechecks the session streams whose session has reached
// its expiry as last seen.
func (f *Feed) expireSessions(ctx context.Context) {
	t := time.NewTicker(sessionCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.recheck(ctx, f.hub.expired(time.Now()))
	}
}

// expired lists the session streams whose session had lapsed by now, as
// last seen: it may have been renewed since, which recheck finds out.
func (h *Hub) expired(now time.Time) []*Client {
	var due []*Client
	for _, c := range h.authenticated() {
		if e := c.expires.Load(); e != 0 && e <= now.UnixNano() {
			due = append(due, c)
		}
	}
	return due
}
