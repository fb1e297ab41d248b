package liabilities

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

var (
	// ErrNoLeaf is a user who held nothing at the snapshot: no liability,
	// no leaf.
	ErrNoLeaf = errors.New("liabilities: the user has no leaf in this snapshot")
	// ErrPruned is a snapshot whose leaves were pruned after the retention.
	ErrPruned = errors.New("liabilities: the snapshot's leaves were pruned")
)

type leafRow struct {
	LeafIndex int64
	UserID    int64
	Amounts   string
}

// Proof reads a user's inclusion proof in a snapshot: their leaf, nonce,
// and the sibling of every node on the way up. A sibling leaf is hashed
// again from its row (its nonce never leaves this function); inner
// siblings are read from the stored nodes, padding is computed.
func Proof(ctx context.Context, db *gorm.DB, snapshotID, userID int64) (sumtree.Proof, error) {
	s, err := Get(ctx, db, snapshotID)
	if err != nil {
		return sumtree.Proof{}, err
	}
	if s.PrunedAt != nil {
		return sumtree.Proof{}, ErrPruned
	}
	db = db.WithContext(ctx)
	var key []byte
	if err := db.Raw("SELECT nonce_key FROM liability_snapshots WHERE id = ?", s.ID).Row().Scan(&key); err != nil {
		return sumtree.Proof{}, fmt.Errorf("liabilities: read the nonce key: %w", err)
	}
	var nonceKey sumtree.Hash
	copy(nonceKey[:], key)
	a := len(s.Totals)
	var own []leafRow
	if err := db.Raw(`SELECT leaf_index, user_id, array_to_string(amounts, ',') AS amounts FROM liability_leaves
		WHERE snapshot_id = ? AND user_id = ?`, s.ID, userID).Scan(&own).Error; err != nil {
		return sumtree.Proof{}, fmt.Errorf("liabilities: read the leaf: %w", err)
	}
	if len(own) == 0 {
		return sumtree.Proof{}, ErrNoLeaf
	}
	index := own[0].LeafIndex
	balances, err := parseAmounts(own[0].Amounts, a)
	if err != nil {
		return sumtree.Proof{}, err
	}
	path, err := siblings(ctx, db, s, nonceKey, index)
	if err != nil {
		return sumtree.Proof{}, err
	}
	assets := make([]sumtree.Asset, len(s.Totals))
	totals := make([]sumtree.U128, len(s.Totals))
	for i, t := range s.Totals {
		assets[i], totals[i] = sumtree.Asset{Symbol: t.Asset, Precision: t.Precision}, t.Units
	}
	return sumtree.NewProof(sumtree.ProofOf{
		SnapshotID: strconv.FormatInt(s.ID, 10), TakenAt: s.TakenAt, Accounts: s.Accounts, Root: s.RootHash,
		Assets: assets, Totals: totals, Key: nonceKey,
		Index: index, UserID: userID, Balances: balances, Path: path,
	}), nil
}

// siblings reads the path of leaf index, bottom first.
func siblings(ctx context.Context, db *gorm.DB, s Snapshot, key sumtree.Hash, index int64) ([]sumtree.Node, error) {
	a, n := len(s.Totals), s.Accounts
	h := sumtree.Height(n)
	path := make([]sumtree.Node, h)
	var wanted [][]any
	at := map[[2]int64]int{}
	for l := range h {
		j := (index >> l) ^ 1
		count := (n + int64(1)<<l - 1) >> l // nodes of level l that cover an account
		switch {
		case j >= count:
			path[l] = sumtree.Padding(l, a)
		case l == 0:
			var rows []leafRow
			if err := db.Raw(`SELECT leaf_index, user_id, array_to_string(amounts, ',') AS amounts FROM liability_leaves
				WHERE snapshot_id = ? AND leaf_index = ?`, s.ID, j).Scan(&rows).Error; err != nil {
				return nil, fmt.Errorf("liabilities: read the sibling leaf: %w", err)
			}
			if len(rows) == 0 {
				return nil, fmt.Errorf("liabilities: snapshot %d has no leaf %d", s.ID, j)
			}
			amounts, err := parseAmounts(rows[0].Amounts, a)
			if err != nil {
				return nil, err
			}
			if path[0], err = sumtree.LeafNode(sumtree.DeriveNonce(key, rows[0].UserID), rows[0].UserID, amounts); err != nil {
				return nil, err
			}
		default:
			wanted = append(wanted, []any{l, j})
			at[[2]int64{int64(l), j}] = l
		}
	}
	if len(wanted) == 0 {
		return path, nil
	}
	var nodes []struct {
		Level     int64
		NodeIndex int64
		Hash      []byte
		Sums      []byte
	}
	if err := db.Raw(`SELECT level, node_index, hash, sums FROM liability_nodes WHERE snapshot_id = ? AND (level, node_index) IN ?`,
		s.ID, wanted).Scan(&nodes).Error; err != nil {
		return nil, fmt.Errorf("liabilities: read the path: %w", err)
	}
	if len(nodes) != len(wanted) {
		return nil, fmt.Errorf("liabilities: snapshot %d: %d of the path's %d nodes are stored", s.ID, len(nodes), len(wanted))
	}
	for _, r := range nodes {
		sums, err := sumtree.DecodeSums(r.Sums, a)
		if err != nil {
			return nil, fmt.Errorf("liabilities: snapshot %d node %d/%d: %w", s.ID, r.Level, r.NodeIndex, err)
		}
		l := at[[2]int64{r.Level, r.NodeIndex}]
		copy(path[l].Hash[:], r.Hash)
		path[l].Sums = sums
	}
	return path, nil
}
