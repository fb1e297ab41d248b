// Package ledger owns the exchange's double-entry book: journal entries,
// their legs, and the balances they add up to. Every balance change is an
// Entry whose legs sum to zero per asset (package risk applies them to
// the balances the sequencer keeps in memory), written by the sequencer's
// batch through Changes, in the same transaction as the balance rows it
// changes; balances are never updated any other way. `exchange
// check-ledger` (Check) proves they agree.
package ledger

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

// System accounts, created by the first migration with these fixed ids.
const (
	ExternalAccount = risk.ExternalAccount
	FeeAccount      = risk.FeeAccount
)

// The journal speaks risk's vocabulary: the same legs the sequencer
// applies to the balances in memory are written here.
type (
	Bucket = risk.Bucket
	Leg    = risk.Leg
)

const (
	Available = risk.Available
	Held      = risk.Held
)

// Entry is a set of legs that must balance per asset.
type Entry struct {
	Kind      string
	Memo      string
	CreatedBy *int64
	Legs      []Leg
}

// Balance is one account's holding of one asset, as stored.
type Balance struct {
	AccountID int64        `gorm:"primaryKey"`
	Asset     string       `gorm:"primaryKey"`
	Available money.Amount `json:"available"`
	Held      money.Amount `json:"held"`
}

// Balances returns an account's balances, one per asset it has ever held.
func Balances(ctx context.Context, db *gorm.DB, account int64) ([]Balance, error) {
	var out []Balance
	if err := db.WithContext(ctx).Where("account_id = ?", account).Order("asset").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("ledger: balances of %d: %w", account, err)
	}
	return out, nil
}
