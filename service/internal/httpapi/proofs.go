package httpapi

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/liabilities"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// snapshotJSON is a published proof-of-liabilities root.
type snapshotJSON struct {
	ID       string `json:"id"`
	TakenAt  string `json:"taken_at"`
	RootHash string `json:"root_hash"`
	Accounts int64  `json:"accounts"`
	// Totals are the liabilities per asset, in the tree's column order.
	Totals      []totalJSON `json:"totals"`
	PublishedAt time.Time   `json:"published_at"`
	// ProofsAvailable is false once the snapshot's leaves were pruned.
	ProofsAvailable bool `json:"proofs_available"`
}

type totalJSON struct {
	Asset     string `json:"asset"`
	Precision int    `json:"precision"`
	Total     string `json:"total"`
}

func snapshotOut(s liabilities.Snapshot) snapshotJSON {
	out := snapshotJSON{ID: strconv.FormatInt(s.ID, 10), TakenAt: s.TakenAt.UTC().Format(sumtree.TimeFormat),
		RootHash: hex.EncodeToString(s.RootHash[:]), Accounts: s.Accounts, PublishedAt: s.PublishedAt.UTC(),
		ProofsAvailable: s.PrunedAt == nil, Totals: []totalJSON{}}
	for _, t := range s.Totals {
		out.Totals = append(out.Totals, totalJSON{Asset: t.Asset, Precision: t.Precision, Total: t.Amount()})
	}
	return out
}

func (s *api) latestProof(c echo.Context) error {
	snap, err := s.Proofs.Latest(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, snapshotOut(snap))
}

func (s *api) listProofs(c echo.Context) error {
	return listPage(c, func(p page) ([]snapshotJSON, error) {
		snaps, err := s.Proofs.List(c.Request().Context(), p.Before, p.Limit)
		out := make([]snapshotJSON, len(snaps))
		for i, snap := range snaps {
			out[i] = snapshotOut(snap)
		}
		return out, err
	}, func(s snapshotJSON) int64 {
		id, _ := strconv.ParseInt(s.ID, 10, 64)
		return id
	})
}

func (s *api) myProof(c echo.Context) error {
	var id int64
	if raw := c.QueryParam("snapshot_id"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return apierr.New(apierr.InvalidRequest, "snapshot_id must be a snapshot id, as GET /api/v1/proof lists them")
		}
		id = n
	}
	p, err := s.Proofs.Mine(c.Request().Context(), mustPrincipal(c).UserID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// snapshotTakenJSON answers an admin's request: the copy is taken, the
// tree is being built.
type snapshotTakenJSON struct {
	Status      string    `json:"status"`
	TakenAt     time.Time `json:"taken_at"`
	LastEntryID string    `json:"last_entry_id"`
	Balances    int       `json:"balances"`
}

func (s *api) adminTakeSnapshot(c echo.Context) error {
	taken, err := s.Proofs.TakeSnapshot(c.Request().Context(), mustPrincipal(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, snapshotTakenJSON{Status: "building", TakenAt: taken.TakenAt.UTC(),
		LastEntryID: strconv.FormatInt(taken.LastEntryID, 10), Balances: taken.Balances})
}
