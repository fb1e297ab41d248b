package web

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/liabilities"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// rootsPerPage is how many published roots the proof pages list.
const rootsPerPage = 30

// snapshotView is a published root as the pages show it.
type snapshotView struct {
	ID          int64
	TakenAt     string
	Root        string
	Accounts    int64
	Totals      []liabilities.Total
	RequestedBy *int64
	ProofsGone  bool
}

type proofView struct {
	Latest    *snapshotView
	Snapshots []snapshotView
	// Older is the cursor of the next page of roots; 0 when none.
	Older int64
}

func viewOf(s liabilities.Snapshot) snapshotView {
	return snapshotView{ID: s.ID, TakenAt: s.TakenAt.UTC().Format(sumtree.TimeFormat), Root: hex.EncodeToString(s.RootHash[:]),
		Accounts: s.Accounts, Totals: s.Totals, RequestedBy: s.RequestedBy, ProofsGone: s.PrunedAt != nil}
}

// roots reads the latest root and a page of roots (?before=ID).
func (s *site) roots(c echo.Context) (proofView, error) {
	ctx := c.Request().Context()
	var v proofView
	var before int64
	if raw := c.QueryParam("before"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return v, apierr.New(apierr.NotFound, "There is no such page of roots.")
		}
		before = n
	}
	latest, err := s.Proofs.Latest(ctx)
	if e, ok := apierr.As(err); ok && e.Code == apierr.NotFound {
		return v, nil
	} else if err != nil {
		return v, err
	}
	lv := viewOf(latest)
	v.Latest = &lv
	list, err := s.Proofs.List(ctx, before, rootsPerPage)
	if err != nil {
		return v, err
	}
	for _, snap := range list {
		v.Snapshots = append(v.Snapshots, viewOf(snap))
	}
	if len(list) == rootsPerPage {
		v.Older = list[len(list)-1].ID
	}
	return v, nil
}

// proofPage is public: the published roots, and for a trader the check
// of their own balance, done by proof.js in the browser.
func (s *site) proofPage(c echo.Context) error {
	v, err := s.roots(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "proof", "Proof of liabilities", v)
}

// myProofFile downloads the trader's proof as a JSON file, for
// `exchange verify-proof` or any verifier written from the document.
func (s *site) myProofFile(c echo.Context) error {
	p, err := s.Proofs.Mine(c.Request().Context(), mustPrincipal(c).UserID, 0)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode proof: %w", err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="proof-of-liabilities-%s-user-%s.json"`, p.Snapshot.ID, p.Leaf.UserID))
	return c.Blob(http.StatusOK, "application/json; charset=utf-8", append(b, '\n'))
}

func (s *site) adminProofPage(c echo.Context) error {
	v, err := s.roots(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "admin_proof", "Admin: proof of liabilities", v)
}

func (s *site) adminTakeSnapshot(c echo.Context) error {
	taken, err := s.Proofs.TakeSnapshot(c.Request().Context(), mustPrincipal(c).UserID)
	if err != nil {
		return s.failed(c, "/admin/proof", err)
	}
	return s.done(c, "/admin/proof", fmt.Sprintf("Snapshot taken at %s, after journal entry %d (%d balances). It is being built and is listed here once published.",
		utcText(taken.TakenAt), taken.LastEntryID, taken.Balances), nil)
}
