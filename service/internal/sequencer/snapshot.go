package sequencer

import (
	"fmt"
	"slices"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/audit"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

// Snapshot asks for a proof-of-liabilities snapshot: a copy of every
// balance as it stands at the end of the batch the command is in, once
// that batch has committed. The leader's balances are exact then, and no
// command is half applied; the journal's position at that point goes
// with the copy, so the ledger can be recomputed as of that moment.
type Snapshot struct {
	// AdminID is who asked (recorded in the admin audit); 0 is the
	// schedule.
	AdminID int64 `json:"admin_id,omitempty"`
}

// SnapshotTaken is the answer: when, and where in the journal.
type SnapshotTaken struct {
	// TakenAt is the batch's time: its entries carry it too.
	TakenAt time.Time `json:"taken_at"`
	// LastEntryID is the journal's position: the legs of entries up to
	// it are exactly the balances copied.
	LastEntryID int64 `json:"last_entry_id"`
	// Balances is how many non-zero balances were copied.
	Balances int `json:"balances"`
}

// SnapshotSink builds what the leader copied into a published proof,
// away from the batch loop (a million accounts take tens of seconds).
type SnapshotSink interface {
	// Busy reports a snapshot still being built: another is refused, not
	// queued behind it.
	Busy() bool
	// Take hands over a copy; it must not block.
	Take(Capture)
}

// Capture is the leader's copy of every non-zero balance at a batch
// boundary.
type Capture struct {
	SnapshotTaken
	RequestedBy int64 // 0: the schedule
	// Assets are every listed asset, by symbol; Balances name them by
	// index.
	Assets   []CapturedAsset
	Balances []CapturedBalance
	// Pause is how long copying held up the batch loop.
	Pause time.Duration
	// Err is a balance that could not be copied: the snapshot is void.
	Err error
}

// CapturedAsset is an asset as listed at the snapshot.
type CapturedAsset struct {
	Symbol    string
	Precision int
}

// CapturedBalance is one account's total (available + held) of one asset.
type CapturedBalance struct {
	Account int64
	Total   money.Amount
	Asset   uint16
}

// pendingSnapshot is a snapshot asked for in the batch under way.
type pendingSnapshot struct {
	st          *state
	taken       *SnapshotTaken
	requestedBy int64
}

func (s *state) snapshot(b *batch, c *Snapshot) (Result, error) {
	if b.sink == nil {
		return refuse(apierr.New(apierr.Conflict, "proof-of-liabilities snapshots are not set up on the sequencer leader"))
	}
	if b.snap == nil {
		if b.sink.Busy() {
			return refuse(apierr.New(apierr.Conflict, "a proof-of-liabilities snapshot is being built; ask again once it is published"))
		}
		b.snap = &pendingSnapshot{st: s, taken: &SnapshotTaken{}, requestedBy: c.AdminID}
	}
	// A second request in the same batch shares the first one's copy.
	if c.AdminID != 0 {
		b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "liabilities_snapshot", Subject: "proof of liabilities",
			Detail: "snapshot at the end of batch " + b.now.Format(time.RFC3339Nano)})
	}
	return Result{Snapshot: b.snap.taken}, nil
}

// capture copies the balances once the batch has committed (its answers,
// which carry p.taken, are sent after this), and hands the copy to sink.
// It holds up the batch loop for as long as the copy takes: about 0.05 s
// per million balances (docs/performance.md).
func (p *pendingSnapshot) capture(sink SnapshotSink, now time.Time) {
	start := time.Now()
	st := p.st
	symbols := make([]string, 0, len(st.assets))
	for sym := range st.assets {
		symbols = append(symbols, sym)
	}
	slices.Sort(symbols)
	c := Capture{RequestedBy: p.requestedBy, Assets: make([]CapturedAsset, len(symbols))}
	for i, sym := range symbols {
		c.Assets[i] = CapturedAsset{Symbol: sym, Precision: st.assets[sym].Precision}
	}
	c.Balances = make([]CapturedBalance, 0, st.balances.Len())
	st.balances.Each(func(k risk.Key, bal risk.Balance) {
		total, err := bal.Total()
		// A handful of assets: a scan beats hashing the symbol.
		i, listed := uint16(0), false
		for j, sym := range symbols {
			if sym == k.Asset {
				i, listed = uint16(j), true
				break
			}
		}
		switch {
		case err != nil:
			c.Err = fmt.Errorf("account %d %s: available %s and held %s overflow", k.Account, k.Asset, bal.Available, bal.Held)
		case !listed:
			c.Err = fmt.Errorf("account %d holds %s, which is not listed", k.Account, k.Asset)
		case total != 0:
			c.Balances = append(c.Balances, CapturedBalance{Account: k.Account, Total: total, Asset: i})
		}
	})
	*p.taken = SnapshotTaken{TakenAt: now, LastEntryID: st.lastEntry, Balances: len(c.Balances)}
	c.SnapshotTaken = *p.taken
	c.Pause = time.Since(start)
	sink.Take(c)
}
