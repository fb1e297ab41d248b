package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

type snapshotOut struct {
	ID       string `json:"id"`
	TakenAt  string `json:"taken_at"`
	RootHash string `json:"root_hash"`
	Accounts int64  `json:"accounts"`
	Totals   []struct {
		Asset, Total string
		Precision    int
	} `json:"totals"`
	ProofsAvailable bool `json:"proofs_available"`
}

// waitSnapshot polls the public root until a snapshot other than not is
// published.
func waitSnapshot(c *client, not string) snapshotOut {
	c.x.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var s snapshotOut
		if st, raw := c.do("GET", "/api/v1/proof/latest", nil); st == 200 {
			json.Unmarshal(raw, &s)
			if s.ID != not {
				return s
			}
		}
	}
	c.x.t.Fatal("no snapshot was published")
	return snapshotOut{}
}

// The proof routes: an admin takes a snapshot (on a replica that does not
// lead: the command is forwarded); the root is public, listed and paged;
// each trader's proof verifies to it, by session or API key; only admins
// with a session may ask for a snapshot; odd input is a 4xx with a code.
func TestProofOfLiabilitiesAPI(t *testing.T) {
	x := newExchange(t, config.ModeDemo)
	follower := x.join()
	anon, alice, bob := x.anonymous(), x.trader(), x.trader()
	alice.fund("BTC", "1.25")
	bob.fund("USDT", "300")
	bob.fund("ETH", "2")
	admin := follower.admin()

	anon.wantError("GET", "/api/v1/proof/latest", nil, 404, "not_found")
	alice.wantError("GET", "/api/v1/proof/mine", nil, 404, "not_found")
	alice.wantError("POST", "/api/v1/admin/proof/snapshots", nil, 403, "forbidden")
	anon.wantError("GET", "/api/v1/proof/mine", nil, 401, "unauthorized")
	alice.apiKey("read", "trade").wantError("POST", "/api/v1/admin/proof/snapshots", nil, 403, "forbidden")

	var taken struct {
		Status      string
		TakenAt     time.Time `json:"taken_at"`
		LastEntryID string    `json:"last_entry_id"`
		Balances    int
	}
	admin.mustJSON("POST", "/api/v1/admin/proof/snapshots", nil, 202, &taken)
	if taken.Status != "building" || taken.TakenAt.IsZero() || taken.LastEntryID == "" || taken.Balances != 3 {
		t.Fatalf("snapshot answer %+v", taken)
	}
	snap := waitSnapshot(anon, "")
	if snap.Accounts != 2 || len(snap.Totals) != 3 || snap.Totals[0].Asset != "BTC" || snap.Totals[0].Total != "1.25" ||
		snap.Totals[1].Total != "2" || snap.Totals[2].Total != "300" || snap.Totals[2].Precision != 6 || !snap.ProofsAvailable {
		t.Fatalf("latest root %+v", snap)
	}

	for _, c := range []*client{alice, bob, bob.apiKey("read")} {
		var p sumtree.Proof
		c.mustJSON("GET", "/api/v1/proof/mine", nil, 200, &p)
		v, err := sumtree.Verify(p)
		if err != nil {
			t.Fatal(err)
		}
		if p.Snapshot.RootHash != snap.RootHash || p.Leaf.UserID != c.userID {
			t.Fatalf("proof of user %s to root %s; want user %s, root %s", p.Leaf.UserID, p.Snapshot.RootHash, c.userID, snap.RootHash)
		}
		if c == alice && v.Balances[0].Decimal(8) != "1.25" {
			t.Fatalf("alice's leaf holds %s BTC", v.Balances[0].Decimal(8))
		}
	}
	alice.mustJSON("GET", "/api/v1/proof/mine?snapshot_id="+snap.ID, nil, 200, nil)
	admin.wantError("GET", "/api/v1/proof/mine", nil, 404, "not_found") // held nothing
	alice.wantError("GET", "/api/v1/proof/mine?snapshot_id=abc", nil, 400, "invalid_request")
	alice.wantError("GET", "/api/v1/proof/mine?snapshot_id=-1", nil, 400, "invalid_request")
	alice.wantError("GET", "/api/v1/proof/mine?snapshot_id=99999999999", nil, 404, "not_found")

	// A second snapshot; both roots are listed, newest first, and paged.
	alice.fund("BTC", "0.5")
	admin.mustJSON("POST", "/api/v1/admin/proof/snapshots", nil, 202, nil)
	second := waitSnapshot(anon, snap.ID)
	var page struct {
		Data       []snapshotOut
		NextCursor string `json:"next_cursor"`
	}
	anon.mustJSON("GET", "/api/v1/proof?limit=1", nil, 200, &page)
	if len(page.Data) != 1 || page.Data[0].ID != second.ID || page.NextCursor == "" || page.Data[0].Totals[0].Total != "1.75" {
		t.Fatalf("first page %+v", page)
	}
	anon.mustJSON("GET", "/api/v1/proof?limit=1&cursor="+page.NextCursor, nil, 200, &page)
	if len(page.Data) != 1 || page.Data[0].RootHash != snap.RootHash {
		t.Fatalf("second page %+v", page)
	}
	anon.wantError("GET", "/api/v1/proof?limit=0", nil, 400, "invalid_request")
	var old sumtree.Proof
	alice.mustJSON("GET", "/api/v1/proof/mine?snapshot_id="+snap.ID, nil, 200, &old)
	if _, err := sumtree.Verify(old); err != nil || old.Snapshot.RootHash != snap.RootHash {
		t.Fatalf("the older proof: %v", err)
	}

	var audited int64
	x.db.Raw("SELECT count(*) FROM admin_audit WHERE action = 'liabilities_snapshot'").Scan(&audited)
	if audited != 2 {
		t.Fatalf("%d audit rows, want 2", audited)
	}
	x.checkLedger()
}
