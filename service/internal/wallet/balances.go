package wallet

import (
	"context"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
)

// Balances lists the account's balance of every listed asset, zero where it
// holds none, so a client sees the same shape before and after its first
// deposit.
func (s *Service) Balances(ctx context.Context, accountID int64) ([]ledger.Balance, error) {
	assets, err := catalog.Assets(ctx, s.db)
	if err != nil {
		return nil, err
	}
	held, err := ledger.Balances(ctx, s.db, accountID)
	if err != nil {
		return nil, err
	}
	byAsset := map[string]ledger.Balance{}
	for _, b := range held {
		byAsset[b.Asset] = b
	}
	out := make([]ledger.Balance, len(assets))
	for i, a := range assets {
		b := byAsset[a.Symbol]
		out[i] = ledger.Balance{AccountID: accountID, Asset: a.Symbol, Available: b.Available, Held: b.Held}
	}
	return out, nil
}
