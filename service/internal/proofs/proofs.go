// Package proofs is the application service for proof of liabilities
// (docs/proof-of-liabilities.md): what the JSON API and the pages call to
// take a snapshot, read the published roots and fetch a trader's own
// inclusion proof, and what turns the sequencer leader's copy of the
// balances into a published Merkle sum tree (Builder), daily and on an
// admin's request. The tree's format is package sumtree's; the tables are
// package liabilities'.
package proofs

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/liabilities"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// Service reads snapshots and asks for new ones.
type Service struct {
	db  *gorm.DB
	seq *sequencer.Client
}

// New builds the service.
func New(db *gorm.DB, seq *sequencer.Client) *Service {
	return &Service{db: db, seq: seq}
}

// TakeSnapshot asks the sequencer leader to copy every balance at the end
// of the batch the request lands in. adminID 0 is the schedule; an admin's
// request is audited in the same batch. The tree is built and published
// afterwards, on the leader; the answer says when the copy was taken.
func (s *Service) TakeSnapshot(ctx context.Context, adminID int64) (sequencer.SnapshotTaken, error) {
	res, err := s.seq.Submit(ctx, sequencer.Command{Snapshot: &sequencer.Snapshot{AdminID: adminID}})
	if err != nil {
		return sequencer.SnapshotTaken{}, err
	}
	if res.Error != nil {
		return sequencer.SnapshotTaken{}, res.Error
	}
	return *res.Snapshot, nil
}

// Latest is the newest published snapshot.
func (s *Service) Latest(ctx context.Context) (liabilities.Snapshot, error) {
	snap, err := liabilities.Latest(ctx, s.db)
	if errors.Is(err, liabilities.ErrNotFound) {
		return snap, apierr.New(apierr.NotFound, "no proof-of-liabilities snapshot has been published yet")
	}
	return snap, err
}

// List is a page of published snapshots, newest first: ids below before
// (0: from the newest).
func (s *Service) List(ctx context.Context, before int64, limit int) ([]liabilities.Snapshot, error) {
	return liabilities.List(ctx, s.db, before, limit)
}

// Mine is the user's inclusion proof in a snapshot (0: the latest).
func (s *Service) Mine(ctx context.Context, userID, snapshotID int64) (sumtree.Proof, error) {
	if snapshotID == 0 {
		latest, err := s.Latest(ctx)
		if err != nil {
			return sumtree.Proof{}, err
		}
		snapshotID = latest.ID
	}
	p, err := liabilities.Proof(ctx, s.db, snapshotID, userID)
	switch {
	case errors.Is(err, liabilities.ErrNotFound):
		return p, apierr.New(apierr.NotFound, "there is no snapshot %d", snapshotID)
	case errors.Is(err, liabilities.ErrNoLeaf):
		return p, apierr.New(apierr.NotFound, "you held nothing at snapshot %d, so it owes you nothing to prove: accounts holding nothing have no leaf", snapshotID)
	case errors.Is(err, liabilities.ErrPruned):
		return p, apierr.New(apierr.NotFound, "the proofs of snapshot %d were deleted after the retention period; its root stays listed", snapshotID)
	}
	return p, err
}
