package transfers

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Changes are what one sequencer batch did to deposits and withdrawals:
// rows to insert and rows whose decision to record, each as it ends up.
type Changes struct {
	Deposits    []*Deposit
	Withdrawals []*Withdrawal
	Adjustments []*Adjustment
	newDeposit  map[int64]bool
	newWithdraw map[int64]bool
	newAdjust   map[int64]bool
}

// Created records a new deposit or withdrawal; Decided one decided on.
func (c *Changes) CreatedDeposit(d *Deposit) {
	if c.newDeposit == nil {
		c.newDeposit = map[int64]bool{}
	}
	c.newDeposit[d.ID] = true
	c.Deposits = append(c.Deposits, d)
}

// DecidedDeposit records a decision on an existing deposit.
func (c *Changes) DecidedDeposit(d *Deposit) {
	if !c.newDeposit[d.ID] {
		c.Deposits = append(c.Deposits, d)
	}
}

// CreatedWithdrawal records a new withdrawal.
func (c *Changes) CreatedWithdrawal(w *Withdrawal) {
	if c.newWithdraw == nil {
		c.newWithdraw = map[int64]bool{}
	}
	c.newWithdraw[w.ID] = true
	c.Withdrawals = append(c.Withdrawals, w)
}

// DecidedWithdrawal records a decision on an existing withdrawal.
func (c *Changes) DecidedWithdrawal(w *Withdrawal) {
	if !c.newWithdraw[w.ID] {
		c.Withdrawals = append(c.Withdrawals, w)
	}
}

// CreatedAdjustment records a proposed adjustment.
func (c *Changes) CreatedAdjustment(a *Adjustment) {
	if c.newAdjust == nil {
		c.newAdjust = map[int64]bool{}
	}
	c.newAdjust[a.ID] = true
	c.Adjustments = append(c.Adjustments, a)
}

// DecidedAdjustment records a decision on an adjustment.
func (c *Changes) DecidedAdjustment(a *Adjustment) {
	if !c.newAdjust[a.ID] {
		c.Adjustments = append(c.Adjustments, a)
	}
}

// Reset empties the changes for the next batch, keeping their storage.
func (c *Changes) Reset() {
	c.Deposits, c.Withdrawals, c.Adjustments = c.Deposits[:0], c.Withdrawals[:0], c.Adjustments[:0]
	clear(c.newDeposit)
	clear(c.newWithdraw)
	clear(c.newAdjust)
}

// Queue adds to q the statements that write the changes: an upsert per
// table, so a row created and decided in one batch is one row.
func (c *Changes) Queue(q *pgx.Batch, now time.Time) {
	if n := len(c.Deposits); n > 0 {
		ids, users, entries, approvers, reviewers := make([]int64, n), make([]int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
		assets, amounts, statuses := make([]string, n), make([]string, n), make([]string, n)
		created := make([]time.Time, n)
		for i, d := range c.Deposits {
			ids[i], users[i], entries[i], approvers[i], reviewers[i] = d.ID, d.UserID, d.EntryID, d.ApprovedBy, d.ReviewedBy
			assets[i], amounts[i], statuses[i], created[i] = d.Asset, d.Amount.String(), string(d.Status), d.CreatedAt
		}
		q.Queue(`INSERT INTO deposits (id, user_id, asset, amount, status, entry_id, approved_by, reviewed_by, created_at, updated_at)
			SELECT id, user_id, asset, amount::numeric, status, entry_id, approved_by, reviewed_by, created_at, $10
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::timestamptz[])
				AS d(id, user_id, asset, amount, status, entry_id, approved_by, reviewed_by, created_at)
			ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, entry_id = EXCLUDED.entry_id, approved_by = EXCLUDED.approved_by,
				reviewed_by = EXCLUDED.reviewed_by, updated_at = EXCLUDED.updated_at`,
			ids, users, assets, amounts, statuses, entries, approvers, reviewers, created, now)
	}
	if n := len(c.Withdrawals); n > 0 {
		ids, users, holds, finals, approvers, reviewers := make([]int64, n), make([]int64, n), make([]int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
		assets, amounts, addresses, statuses, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created := make([]time.Time, n)
		for i, w := range c.Withdrawals {
			ids[i], users[i], holds[i], finals[i], approvers[i], reviewers[i] = w.ID, w.UserID, w.HoldEntryID, w.FinalEntryID, w.ApprovedBy, w.ReviewedBy
			assets[i], amounts[i], addresses[i], statuses[i], reasons[i] = w.Asset, w.Amount.String(), w.Address, string(w.Status), w.Reason
			created[i] = w.CreatedAt
		}
		q.Queue(`INSERT INTO withdrawals (id, user_id, asset, amount, address, status, hold_entry_id, final_entry_id, approved_by, reviewed_by, reason, created_at, updated_at)
			SELECT id, user_id, asset, amount::numeric, address, status, hold_entry_id, final_entry_id, approved_by, reviewed_by, reason, created_at, $13
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::timestamptz[])
				AS w(id, user_id, asset, amount, address, status, hold_entry_id, final_entry_id, approved_by, reviewed_by, reason, created_at)
			ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, final_entry_id = EXCLUDED.final_entry_id, approved_by = EXCLUDED.approved_by,
				reviewed_by = EXCLUDED.reviewed_by, reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at`,
			ids, users, assets, amounts, addresses, statuses, holds, finals, approvers, reviewers, reasons, created, now)
	}
	if n := len(c.Adjustments); n > 0 {
		ids, users, proposers := make([]int64, n), make([]int64, n), make([]int64, n)
		reviewers, entries := make([]*int64, n), make([]*int64, n)
		assets, amounts, reasons, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		created := make([]time.Time, n)
		for i, a := range c.Adjustments {
			ids[i], users[i], proposers[i], reviewers[i], entries[i] = a.ID, a.UserID, a.ProposedBy, a.ReviewedBy, a.EntryID
			assets[i], amounts[i], reasons[i], statuses[i], created[i] = a.Asset, a.Amount.String(), a.Reason, string(a.Status), a.CreatedAt
		}
		q.Queue(`INSERT INTO adjustments (id, user_id, asset, amount, reason, status, proposed_by, reviewed_by, entry_id, created_at, updated_at)
			SELECT id, user_id, asset, amount::numeric, reason, status, proposed_by, reviewed_by, entry_id, created_at, $11
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::timestamptz[])
				AS a(id, user_id, asset, amount, reason, status, proposed_by, reviewed_by, entry_id, created_at)
			ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, reviewed_by = EXCLUDED.reviewed_by,
				entry_id = EXCLUDED.entry_id, updated_at = EXCLUDED.updated_at`,
			ids, users, assets, amounts, reasons, statuses, proposers, reviewers, entries, created, now)
	}
}

// Pending is what the sequencer keeps of undecided transfers: it alone
// decides them, so it must know which are still open.
type Pending struct {
	Deposits    map[int64]*Deposit
	Withdrawals map[int64]*Withdrawal
	Adjustments map[int64]*Adjustment
}

// LoadPending reads the pending deposits and withdrawals, with their
// owners' accounts.
func LoadPending(ctx context.Context, conn *pgx.Conn) (Pending, error) {
	p := Pending{Deposits: map[int64]*Deposit{}, Withdrawals: map[int64]*Withdrawal{}, Adjustments: map[int64]*Adjustment{}}
	rows, err := conn.Query(ctx, `SELECT d.id, d.user_id, a.id, d.asset, d.amount::text, d.approved_by, d.created_at
		FROM deposits d JOIN accounts a ON a.user_id = d.user_id WHERE d.status = 'pending'`)
	if err != nil {
		return p, fmt.Errorf("load pending deposits: %w", err)
	}
	for rows.Next() {
		d := &Deposit{Status: DepositPending}
		var amount string
		if err := rows.Scan(&d.ID, &d.UserID, &d.AccountID, &d.Asset, &amount, &d.ApprovedBy, &d.CreatedAt); err != nil {
			return p, fmt.Errorf("load pending deposits: %w", err)
		}
		if d.Amount, err = money.Parse(amount); err != nil {
			return p, fmt.Errorf("deposit %d: %w", d.ID, err)
		}
		p.Deposits[d.ID] = d
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("load pending deposits: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT w.id, w.user_id, a.id, w.asset, w.amount::text, w.address, w.hold_entry_id, w.approved_by, w.created_at
		FROM withdrawals w JOIN accounts a ON a.user_id = w.user_id WHERE w.status = 'pending'`)
	if err != nil {
		return p, fmt.Errorf("load pending withdrawals: %w", err)
	}
	for rows.Next() {
		w := &Withdrawal{Status: WithdrawalPending}
		var amount string
		if err := rows.Scan(&w.ID, &w.UserID, &w.AccountID, &w.Asset, &amount, &w.Address, &w.HoldEntryID, &w.ApprovedBy, &w.CreatedAt); err != nil {
			return p, fmt.Errorf("load pending withdrawals: %w", err)
		}
		if w.Amount, err = money.Parse(amount); err != nil {
			return p, fmt.Errorf("withdrawal %d: %w", w.ID, err)
		}
		p.Withdrawals[w.ID] = w
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("load pending withdrawals: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT j.id, j.user_id, a.id, j.asset, j.amount::text, j.reason, j.proposed_by, j.created_at
		FROM adjustments j JOIN accounts a ON a.user_id = j.user_id WHERE j.status = 'pending'`)
	if err != nil {
		return p, fmt.Errorf("load pending adjustments: %w", err)
	}
	for rows.Next() {
		j := &Adjustment{Status: AdjustmentPending}
		var amount string
		if err := rows.Scan(&j.ID, &j.UserID, &j.AccountID, &j.Asset, &amount, &j.Reason, &j.ProposedBy, &j.CreatedAt); err != nil {
			return p, fmt.Errorf("load pending adjustments: %w", err)
		}
		if j.Amount, err = money.Parse(amount); err != nil {
			return p, fmt.Errorf("adjustment %d: %w", j.ID, err)
		}
		p.Adjustments[j.ID] = j
	}
	return p, rows.Err()
}

// DayKey names one user's withdrawals of one asset.
type DayKey struct {
	UserID int64
	Asset  string
}

// LoadWithdrawnSince sums each user's withdrawals of each asset made since
// a time (the day's start), pending or sent (rejected and cancelled ones
// never left): the daily limit's count.
func LoadWithdrawnSince(ctx context.Context, conn *pgx.Conn, since time.Time) (map[DayKey]money.Amount, error) {
	out := map[DayKey]money.Amount{}
	rows, err := conn.Query(ctx, `SELECT user_id, asset, sum(amount)::text FROM withdrawals
		WHERE status IN ('pending', 'completed') AND created_at >= $1 GROUP BY user_id, asset`, since)
	if err != nil {
		return nil, fmt.Errorf("load today's withdrawals: %w", err)
	}
	for rows.Next() {
		var k DayKey
		var sum string
		if err := rows.Scan(&k.UserID, &k.Asset, &sum); err != nil {
			return nil, fmt.Errorf("load today's withdrawals: %w", err)
		}
		if out[k], err = money.Parse(sum); err != nil {
			return nil, fmt.Errorf("today's %s withdrawals of user %d: %w", k.Asset, k.UserID, err)
		}
	}
	return out, rows.Err()
}

// ReserveDepositIDs takes n deposit ids: the sequencer numbers what it
// creates.
func ReserveDepositIDs(ctx context.Context, conn *pgx.Conn, n int) ([]int64, error) {
	return database.ReserveIDs(ctx, conn, "deposits", n)
}

// ReserveAdjustmentIDs takes n adjustment ids.
func ReserveAdjustmentIDs(ctx context.Context, conn *pgx.Conn, n int) ([]int64, error) {
	return database.ReserveIDs(ctx, conn, "adjustments", n)
}

// ReserveWithdrawalIDs takes n withdrawal ids.
func ReserveWithdrawalIDs(ctx context.Context, conn *pgx.Conn, n int) ([]int64, error) {
	return database.ReserveIDs(ctx, conn, "withdrawals", n)
}
