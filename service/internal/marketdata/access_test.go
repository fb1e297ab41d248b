package marketdata

import (
	"context"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
)

// gate answers StillValid from a table of live credentials.
type gate struct {
	live    map[auth.Credential]time.Time
	changes []auth.AccessChange
}

func (g *gate) StillValid(_ context.Context, c auth.Credential) (time.Time, bool, error) {
	e, ok := g.live[c]
	return e, ok, nil
}

func (g *gate) AccessChanged(a auth.AccessChange) { g.changes = append(g.changes, a) }

// A session stream is rechecked once its session lapses: renewed, it
// stays with the new expiry; gone, it is closed and receives nothing more.
func TestSessionStreamsEndWhenTheSessionLapses(t *testing.T) {
	h := NewHub(nil)
	now := time.Now()
	renewed := auth.Credential{UserID: 1, Session: "aa"}
	lapsed := auth.Credential{UserID: 1, Session: "bb"}
	key := auth.Credential{UserID: 1, KeyID: "ak_x"}
	g := &gate{live: map[auth.Credential]time.Time{renewed: now.Add(time.Hour), key: {}}}
	f := &Feed{hub: h, gate: g}
	a := h.NewClient(Access{Credential: renewed, AccountID: 10, Expires: now.Add(-time.Second)})
	b := h.NewClient(Access{Credential: lapsed, AccountID: 10, Expires: now.Add(-time.Second)})
	k := h.NewClient(Access{Credential: key, AccountID: 10})
	h.subscribe(b, "balances")
	if due := h.expired(now); len(due) != 2 {
		t.Fatalf("%d streams due, want the two lapsed sessions", len(due))
	}
	f.recheck(context.Background(), h.expired(now))
	select {
	case <-b.Revoked:
	default:
		t.Fatal("the lapsed session's stream is open")
	}
	for _, c := range []*Client{a, k} {
		select {
		case <-c.Revoked:
			t.Fatal("a live credential's stream was closed")
		default:
		}
	}
	if due := h.expired(now); len(due) != 1 || due[0] != b {
		t.Fatalf("after the recheck, due: %v", due)
	}
	h.publishAccount(10, []byte("balances"))
	if len(b.send) != 0 {
		t.Fatal("a revoked stream still receives private messages")
	}
}

// A change of access closes exactly the streams it names.
func TestRevokeClosesWhatTheChangeNames(t *testing.T) {
	h := NewHub(nil)
	s1 := h.NewClient(Access{Credential: auth.Credential{UserID: 1, Session: "s1"}})
	s2 := h.NewClient(Access{Credential: auth.Credential{UserID: 1, Session: "s2"}})
	k1 := h.NewClient(Access{Credential: auth.Credential{UserID: 1, KeyID: "k1"}})
	other := h.NewClient(Access{Credential: auth.Credential{UserID: 2, Session: "s9"}})
	anon := h.NewClient(Access{})
	closed := func(c *Client) bool {
		select {
		case <-c.Revoked:
			return true
		default:
			return false
		}
	}
	if n := h.Revoke(auth.AccessChange{UserID: 1, Session: "s1"}); n != 1 || !closed(s1) || closed(s2) || closed(k1) {
		t.Fatalf("logout of s1 closed %d", n)
	}
	if n := h.Revoke(auth.AccessChange{UserID: 1, KeyID: "k1"}); n != 1 || !closed(k1) || closed(s2) {
		t.Fatalf("revoking k1 closed %d", n)
	}
	k2 := h.NewClient(Access{Credential: auth.Credential{UserID: 1, KeyID: "k2"}})
	if h.Revoke(auth.AccessChange{UserID: 1, KeepSession: "s2"}); closed(s2) || !closed(k2) {
		t.Fatal("a password change must keep its own session and close the rest")
	}
	h.Revoke(auth.AccessChange{UserID: 1})
	if !closed(s2) || closed(other) || closed(anon) {
		t.Fatal("a freeze of user 1 must close all of user 1's streams and no one else's")
	}
}
