package liabilities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// New is a built snapshot, ready to publish.
type New struct {
	TakenAt     time.Time
	LastEntryID int64
	RequestedBy int64 // 0: the schedule
	Key         sumtree.Hash
	Tree        *sumtree.Tree
	// Accounts holds the account of each of the tree's input rows.
	Accounts []int64
}

// Save publishes a snapshot: its row, totals, leaves and inner nodes in
// one transaction on conn, the leaves and nodes streamed with COPY.
func Save(ctx context.Context, conn *pgx.Conn, n New) (id int64, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("liabilities: save: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	t := n.Tree
	root := t.Root()
	var by *int64
	if n.RequestedBy != 0 {
		by = &n.RequestedBy
	}
	err = tx.QueryRow(ctx, `INSERT INTO liability_snapshots (taken_at, last_entry_id, account_count, root_hash, nonce_key, requested_by, published_at)
		VALUES ($1, $2, $3, $4, $5, $6, now()) RETURNING id`,
		n.TakenAt, n.LastEntryID, t.Len(), root[:], n.Key[:], by).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("liabilities: save snapshot: %w", err)
	}
	top := t.Top()
	var assets, totals []string
	var precisions []int32
	for c, a := range t.Assets() {
		assets, precisions, totals = append(assets, a.Symbol), append(precisions, int32(a.Precision)), append(totals, top.Sums[c].Decimal(a.Precision))
	}
	if _, err = tx.Exec(ctx, `INSERT INTO liability_totals (snapshot_id, ordinal, asset, precision, total)
		SELECT $1, ord, asset, precision, total::numeric FROM unnest($2::text[], $3::int[], $4::text[]) WITH ORDINALITY AS t(asset, precision, total, ord)`,
		id, assets, precisions, totals); err != nil {
		return 0, fmt.Errorf("liabilities: save totals: %w", err)
	}
	if err = copyLeaves(ctx, tx, id, n); err != nil {
		return 0, err
	}
	if err = copyNodes(ctx, tx, id, t); err != nil {
		return 0, err
	}
	if err = tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("liabilities: commit snapshot: %w", err)
	}
	return id, nil
}

func copyLeaves(ctx context.Context, tx pgx.Tx, id int64, n New) error {
	t, i := n.Tree, 0
	row := make([]any, 5)
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"liability_leaves"}, []string{"snapshot_id", "leaf_index", "account_id", "user_id", "amounts"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == t.Len() {
				return nil, nil
			}
			r, user, balances := t.Leaf(i)
			row[0], row[1], row[2], row[3], row[4] = id, int32(i), n.Accounts[r], user, balances
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("liabilities: copy leaves: %w", err)
	}
	return nil
}

func copyNodes(ctx context.Context, tx pgx.Tx, id int64, t *sumtree.Tree) error {
	level, i := 1, 0
	row := make([]any, 5)
	sums := make([]byte, 16*len(t.Assets()))
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"liability_nodes"}, []string{"snapshot_id", "level", "node_index", "hash", "sums"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for level <= t.Height() && i == t.LevelLen(level) {
				level, i = level+1, 0
			}
			if level > t.Height() {
				return nil, nil
			}
			hash, encoded := t.StoredNode(level, i, sums)
			row[0], row[1], row[2], row[3], row[4] = id, int16(level), int32(i), hash, encoded
			i++
			return row, nil
		}))
	if err != nil {
		return fmt.Errorf("liabilities: copy nodes: %w", err)
	}
	return nil
}

// Customers hands f every customer account (kind 'user': not the
// external or fee account) with its user, in account order. The accounts
// table is auth's; the snapshot only reads who owns what.
func Customers(ctx context.Context, conn *pgx.Conn, f func(account, user int64)) error {
	rows, err := conn.Query(ctx, "SELECT id, user_id FROM accounts WHERE kind = 'user' ORDER BY id")
	if err != nil {
		return fmt.Errorf("liabilities: read customer accounts: %w", err)
	}
	defer rows.Close()
	var account, user int64
	_, err = pgx.ForEachRow(rows, []any{&account, &user}, func() error {
		f(account, user)
		return nil
	})
	if err != nil {
		return fmt.Errorf("liabilities: read customer accounts: %w", err)
	}
	return nil
}

// Prune deletes the leaves and nodes of snapshots taken before cutoff;
// their roots and totals stay published.
func Prune(ctx context.Context, conn *pgx.Conn, cutoff time.Time) (int, error) {
	var ids []int64
	rows, err := conn.Query(ctx, "SELECT id FROM liability_snapshots WHERE taken_at < $1 AND pruned_at IS NULL ORDER BY id", cutoff)
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err != nil {
		return 0, fmt.Errorf("liabilities: find snapshots to prune: %w", err)
	}
	for _, id := range ids {
		q := &pgx.Batch{}
		q.Queue("DELETE FROM liability_leaves WHERE snapshot_id = $1", id)
		q.Queue("DELETE FROM liability_nodes WHERE snapshot_id = $1", id)
		q.Queue("UPDATE liability_snapshots SET pruned_at = now() WHERE id = $1", id)
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return tx.SendBatch(ctx, q).Close() }); err != nil {
			return 0, fmt.Errorf("liabilities: prune snapshot %d: %w", id, err)
		}
	}
	return len(ids), nil
}
