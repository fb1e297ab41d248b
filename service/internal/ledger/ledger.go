// Package ledger is the exchange's double-entry book. Every balance change is
// an Entry whose legs sum to zero per asset, written in the same transaction
// as the balance rows it changes; balances are never updated any other way.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// System accounts, created by the first migration with these fixed ids.
const (
	// ExternalAccount mirrors the world outside the exchange: deposits come
	// from it and withdrawals go to it, so its balance is minus everything
	// users hold. It is the only account allowed below zero.
	ExternalAccount int64 = 1
	// FeeAccount collects trading fees.
	FeeAccount int64 = 2
)

// BalancesChannel is the NOTIFY channel that announces accounts whose
// balances changed outside the sequencer (which publishes its own events).
const BalancesChannel = "exchange_balances"

// Bucket splits a balance into what its owner may spend and what is
// reserved (open orders, pending withdrawals).
type Bucket string

const (
	Available Bucket = "available"
	Held      Bucket = "held"
)

// Leg is one side of an entry: a signed change to one bucket of one balance.
type Leg struct {
	Account int64
	Asset   string
	Bucket  Bucket
	Amount  money.Amount
}

// Entry is a set of legs that must balance per asset.
type Entry struct {
	Kind      string
	Memo      string
	CreatedBy *int64
	Legs      []Leg
}

// Transfer moves amount of asset from one (account, bucket) to another.
func Transfer(asset string, amount money.Amount, fromAccount int64, from Bucket, toAccount int64, to Bucket) []Leg {
	return []Leg{
		{Account: fromAccount, Asset: asset, Bucket: from, Amount: -amount},
		{Account: toAccount, Asset: asset, Bucket: to, Amount: amount},
	}
}

// Validate checks the double-entry rule without touching the database.
func (e Entry) Validate() error {
	if e.Kind == "" {
		return errors.New("ledger: entry without a kind")
	}
	if len(e.Legs) < 2 {
		return fmt.Errorf("ledger: %s entry has %d legs, needs at least 2", e.Kind, len(e.Legs))
	}
	sums := map[string]money.Amount{}
	for _, l := range e.Legs {
		if l.Amount == 0 {
			return fmt.Errorf("ledger: %s entry has a zero leg", e.Kind)
		}
		if l.Bucket != Available && l.Bucket != Held {
			return fmt.Errorf("ledger: %s entry has bucket %q", e.Kind, l.Bucket)
		}
		s, err := sums[l.Asset].Add(l.Amount)
		if err != nil {
			return fmt.Errorf("ledger: %s entry overflows %s: %w", e.Kind, l.Asset, err)
		}
		sums[l.Asset] = s
	}
	for asset, s := range sums {
		if s != 0 {
			return fmt.Errorf("ledger: %s entry does not balance: %s legs sum to %s", e.Kind, asset, s)
		}
	}
	return nil
}

// Balance is one account's holding of one asset.
type Balance struct {
	AccountID int64        `gorm:"primaryKey"`
	Asset     string       `gorm:"primaryKey"`
	Available money.Amount `json:"available"`
	Held      money.Amount `json:"held"`
}

type balanceKey struct {
	account int64
	asset   string
}

type delta struct{ available, held money.Amount }

// Post writes the entry and applies it to the balances inside tx, which the
// caller owns. Balance rows are locked in a fixed order so concurrent posts
// cannot deadlock, and an account other than ExternalAccount that would go
// below zero fails the whole post with an insufficient_funds client error.
func Post(ctx context.Context, tx *gorm.DB, e Entry) (int64, error) {
	if err := e.Validate(); err != nil {
		return 0, err
	}
	deltas := map[balanceKey]delta{}
	for _, l := range e.Legs {
		k := balanceKey{l.Account, l.Asset}
		d := deltas[k]
		var err error
		if l.Bucket == Available {
			d.available, err = d.available.Add(l.Amount)
		} else {
			d.held, err = d.held.Add(l.Amount)
		}
		if err != nil {
			return 0, fmt.Errorf("ledger: %s: %w", e.Kind, err)
		}
		deltas[k] = d
	}
	keys := make([]balanceKey, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].account != keys[j].account {
			return keys[i].account < keys[j].account
		}
		return keys[i].asset < keys[j].asset
	})
	for _, k := range keys {
		if err := apply(ctx, tx, k, deltas[k]); err != nil {
			return 0, err
		}
	}

	var entryID int64
	if err := tx.WithContext(ctx).Raw(
		"INSERT INTO journal_entries (kind, memo, created_by) VALUES (?, ?, ?) RETURNING id",
		e.Kind, e.Memo, e.CreatedBy).Scan(&entryID).Error; err != nil {
		return 0, fmt.Errorf("ledger: insert %s entry: %w", e.Kind, err)
	}
	rows := make([]map[string]any, len(e.Legs))
	for i, l := range e.Legs {
		rows[i] = map[string]any{"entry_id": entryID, "account_id": l.Account, "asset": l.Asset, "bucket": string(l.Bucket), "amount": l.Amount}
	}
	if err := tx.WithContext(ctx).Table("journal_legs").Create(rows).Error; err != nil {
		return 0, fmt.Errorf("ledger: insert %s legs: %w", e.Kind, err)
	}
	// Tell every replica (on commit) whose balances changed, for the
	// private balances streams.
	accounts := make([]string, 0, len(keys))
	for _, k := range keys {
		accounts = append(accounts, strconv.FormatInt(k.account, 10))
	}
	if err := tx.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", BalancesChannel, strings.Join(accounts, ",")).Error; err != nil {
		return 0, fmt.Errorf("ledger: notify %s: %w", e.Kind, err)
	}
	return entryID, nil
}

func apply(ctx context.Context, tx *gorm.DB, k balanceKey, d delta) error {
	if k.account == ExternalAccount {
		return applyExternal(ctx, tx, k, d)
	}
	if err := tx.WithContext(ctx).Exec(
		"INSERT INTO balances (account_id, asset) VALUES (?, ?) ON CONFLICT DO NOTHING", k.account, k.asset).Error; err != nil {
		return fmt.Errorf("ledger: create balance %d/%s: %w", k.account, k.asset, err)
	}
	var cur Balance
	if err := tx.WithContext(ctx).Raw(
		"SELECT account_id, asset, available, held FROM balances WHERE account_id = ? AND asset = ? FOR UPDATE",
		k.account, k.asset).Scan(&cur).Error; err != nil {
		return fmt.Errorf("ledger: lock balance %d/%s: %w", k.account, k.asset, err)
	}
	avail, err1 := cur.Available.Add(d.available)
	held, err2 := cur.Held.Add(d.held)
	if err := errors.Join(err1, err2); err != nil {
		return apierr.New(apierr.InvalidAmount, "the resulting %s balance is out of range", k.asset)
	}
	if k.account != ExternalAccount {
		if avail < 0 {
			return apierr.New(apierr.InsufficientFunds, "available %s %s, needs %s %s", cur.Available, k.asset, -d.available, k.asset)
		}
		if held < 0 {
			return fmt.Errorf("ledger: held %s of account %d would go negative (%s): a reservation is missing", k.asset, k.account, held)
		}
	}
	if err := tx.WithContext(ctx).Exec(
		"UPDATE balances SET available = ?, held = ?, updated_at = now() WHERE account_id = ? AND asset = ?",
		avail, held, k.account, k.asset).Error; err != nil {
		return fmt.Errorf("ledger: update balance %d/%s: %w", k.account, k.asset, err)
	}
	return nil
}

// applyExternal adds the delta in SQL, never in Go: the external account's
// balance is minus everything every user holds, so it may pass what an
// Amount can hold long before any one balance does, and it must never be
// the reason someone's deposit fails. NUMERIC(30,8) has room for it.
func applyExternal(ctx context.Context, tx *gorm.DB, k balanceKey, d delta) error {
	if err := tx.WithContext(ctx).Exec(`INSERT INTO balances (account_id, asset, available, held) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, asset) DO UPDATE SET available = balances.available + EXCLUDED.available,
			held = balances.held + EXCLUDED.held, updated_at = now()`,
		k.account, k.asset, d.available, d.held).Error; err != nil {
		return fmt.Errorf("ledger: update external %s: %w", k.asset, err)
	}
	return nil
}

// Balances returns an account's balances, one per asset it has ever held.
func Balances(ctx context.Context, db *gorm.DB, account int64) ([]Balance, error) {
	var out []Balance
	if err := db.WithContext(ctx).Where("account_id = ?", account).Order("asset").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("ledger: balances of %d: %w", account, err)
	}
	return out, nil
}
