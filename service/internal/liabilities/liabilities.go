// Package liabilities owns the proof-of-liabilities tables: published
// snapshots (liability_snapshots, liability_totals), and the leaves and
// inner nodes of each snapshot's Merkle sum tree (liability_leaves,
// liability_nodes), from which a trader's inclusion proof is read. A
// snapshot is written whole in one transaction or not at all, so a root
// is never published without every leaf under it.
package liabilities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// Snapshot is a published root with its totals.
type Snapshot struct {
	ID          int64
	TakenAt     time.Time
	LastEntryID int64
	Accounts    int64
	RootHash    sumtree.Hash
	RequestedBy *int64
	PublishedAt time.Time
	PrunedAt    *time.Time
	// Totals are one per asset listed at the snapshot, in column order.
	Totals []Total
}

// Total is one asset's liabilities at a snapshot.
type Total struct {
	Asset     string
	Precision int
	// Units is the total in the asset's smallest unit.
	Units sumtree.U128
}

// Amount is the total as a decimal amount of the asset: "12.5".
func (t Total) Amount() string { return t.Units.Decimal(t.Precision) }

// ErrNotFound is a snapshot that does not exist.
var ErrNotFound = errors.New("liabilities: no such snapshot")

type snapshotRow struct {
	ID           int64
	TakenAt      time.Time
	LastEntryID  int64
	AccountCount int64
	RootHash     []byte
	RequestedBy  *int64
	PublishedAt  time.Time
	PrunedAt     *time.Time
}

const snapshotColumns = "id, taken_at, last_entry_id, account_count, root_hash, requested_by, published_at, pruned_at"

// Latest is the newest published snapshot; ErrNotFound before the first.
func Latest(ctx context.Context, db *gorm.DB) (Snapshot, error) {
	out, err := list(ctx, db, "SELECT "+snapshotColumns+" FROM liability_snapshots ORDER BY id DESC LIMIT 1")
	if err != nil {
		return Snapshot{}, err
	}
	if len(out) == 0 {
		return Snapshot{}, ErrNotFound
	}
	return out[0], nil
}

// Get is one snapshot; ErrNotFound if there is none with that id.
func Get(ctx context.Context, db *gorm.DB, id int64) (Snapshot, error) {
	out, err := list(ctx, db, "SELECT "+snapshotColumns+" FROM liability_snapshots WHERE id = ?", id)
	if err != nil {
		return Snapshot{}, err
	}
	if len(out) == 0 {
		return Snapshot{}, ErrNotFound
	}
	return out[0], nil
}

// List is a page of snapshots, newest first: ids below before (0: from
// the newest), at most limit.
func List(ctx context.Context, db *gorm.DB, before int64, limit int) ([]Snapshot, error) {
	if before <= 0 {
		return list(ctx, db, "SELECT "+snapshotColumns+" FROM liability_snapshots ORDER BY id DESC LIMIT ?", limit)
	}
	return list(ctx, db, "SELECT "+snapshotColumns+" FROM liability_snapshots WHERE id < ? ORDER BY id DESC LIMIT ?", before, limit)
}

func list(ctx context.Context, db *gorm.DB, query string, args ...any) ([]Snapshot, error) {
	var rows []snapshotRow
	if err := db.WithContext(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("liabilities: read snapshots: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]Snapshot, len(rows))
	byID := make(map[int64]*Snapshot, len(rows))
	ids := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = Snapshot{ID: r.ID, TakenAt: r.TakenAt.UTC(), LastEntryID: r.LastEntryID, Accounts: r.AccountCount,
			RequestedBy: r.RequestedBy, PublishedAt: r.PublishedAt.UTC(), PrunedAt: r.PrunedAt}
		copy(out[i].RootHash[:], r.RootHash)
		byID[r.ID], ids[i] = &out[i], r.ID
	}
	var totals []struct {
		SnapshotID int64
		Asset      string
		Precision  int
		Units      string
	}
	// The total is NUMERIC in asset units; the tree counts smallest units.
	err := db.WithContext(ctx).Raw(`SELECT snapshot_id, asset, precision, trunc(total * power(10::numeric, precision))::text AS units
		FROM liability_totals WHERE snapshot_id IN ? ORDER BY snapshot_id, ordinal`, ids).Scan(&totals).Error
	if err != nil {
		return nil, fmt.Errorf("liabilities: read totals: %w", err)
	}
	for _, t := range totals {
		u, err := sumtree.ParseU128(t.Units)
		if err != nil {
			return nil, fmt.Errorf("liabilities: snapshot %d %s total %q: %w", t.SnapshotID, t.Asset, t.Units, err)
		}
		s := byID[t.SnapshotID]
		s.Totals = append(s.Totals, Total{Asset: t.Asset, Precision: t.Precision, Units: u})
	}
	return out, nil
}

// parseAmounts reads a leaf's amounts as array_to_string wrote them.
func parseAmounts(s string, assets int) ([]int64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != assets {
		return nil, fmt.Errorf("liabilities: %d amounts for %d assets", len(parts), assets)
	}
	out := make([]int64, assets)
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("liabilities: amount %q: %w", p, err)
		}
		out[i] = v
	}
	return out, nil
}
