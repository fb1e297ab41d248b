package risk

import (
	"fmt"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// HoldAsset is what an order of side reserves: the quote asset for a buy,
// the base for a sell.
func HoldAsset(side engine.Side, base, quote string) string {
	if side == engine.Buy {
		return quote
	}
	return base
}

// Hold is what an order reserves before it reaches the book: a sell, its
// quantity; a limit buy, price times quantity, rounded up; a market buy
// by budget, the budget; a market buy by quantity, cost, what the book
// would charge for it now.
func Hold(o engine.Order, cost money.Amount) (money.Amount, error) {
	switch {
	case o.Side == engine.Sell:
		return o.Quantity, nil
	case o.Kind == engine.Limit:
		return money.MulDivCeil(o.Price, o.Quantity, money.One)
	case o.QuoteQuantity > 0:
		return o.QuoteQuantity, nil
	}
	return cost, nil
}

// RestingHold is what a resting order still reserves: a buy, price times
// what remains (exact, by the market's rules); a sell, what remains.
func RestingHold(side engine.Side, price, remaining money.Amount) (money.Amount, error) {
	if side == engine.Sell {
		return remaining, nil
	}
	return money.MulDivCeil(price, remaining, money.One)
}

// Unspent is what a taker reserved (hold) but neither spent in its fill
// nor still needs for its resting remainder: price improvement, and the
// unfilled part of an IOC, FOK or market order. It goes back to available.
func Unspent(o engine.Order, hold money.Amount, fill engine.Fill) (money.Amount, error) {
	spent, keep := fill.Filled, fill.Resting
	if o.Side == engine.Buy {
		spent = fill.FilledQuote
		var err error
		if keep, err = RestingHold(engine.Buy, o.Price, fill.Resting); err != nil {
			return 0, err
		}
	}
	release := hold - spent - keep
	if release < 0 {
		return 0, fmt.Errorf("%w: order %d spent %s and keeps %s of a hold of %s", ErrBroken, o.ID, spent, keep, hold)
	}
	return release, nil
}

// Settle books one trade: the buyer's held quote pays the seller, the
// seller's held base goes to the buyer, and each side's fee, charged in
// what it receives, goes to the fee account.
func Settle(p *Postings, t engine.Trade, base, quote string) {
	buyer, seller := t.TakerOwner, t.MakerOwner
	buyerFee, sellerFee := t.TakerFee, t.MakerFee
	if t.TakerSide == engine.Sell {
		buyer, seller = seller, buyer
		buyerFee, sellerFee = sellerFee, buyerFee
	}
	p.Add(buyer, quote, Held, -t.Quote)
	p.Add(seller, quote, Available, t.Quote-sellerFee)
	p.Add(FeeAccount, quote, Available, sellerFee)
	p.Add(seller, base, Held, -t.Quantity)
	p.Add(buyer, base, Available, t.Quantity-buyerFee)
	p.Add(FeeAccount, base, Available, buyerFee)
}
