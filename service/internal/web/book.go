package web

import (
	"slices"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// bookRow is a price level as the market page draws it before its script
// takes over (book.js draws the same): the level's amount and the running
// total from the best price to it.
type bookRow struct {
	Price, Quantity, Total money.Amount
}

// bookSide adds the running totals to one side's levels, best first; the
// asks are then turned highest first, as they are drawn above the bids.
func bookSide(levels [][2]money.Amount, asks bool) []bookRow {
	out := make([]bookRow, len(levels))
	var total money.Amount
	for i, l := range levels {
		if t, err := total.Add(l[1]); err == nil { // a book never holds that much; keep the last total if it did
			total = t
		}
		out[i] = bookRow{Price: l[0], Quantity: l[1], Total: total}
	}
	if asks {
		slices.Reverse(out)
	}
	return out
}

// groupStep is a price step the book may be grouped by: the tick, ten
// ticks, a hundred, a thousand.
type groupStep struct {
	Step  money.Amount
	Label string
}

func groupSteps(m catalog.Market) []groupStep {
	out := make([]groupStep, 0, 4)
	step, decimals := m.TickSize, m.TickSize.Decimals()
	for range 4 {
		out = append(out, groupStep{Step: step, Label: fixed(step, max(decimals, 0))})
		if step > money.Max/10 {
			break
		}
		step *= 10
		decimals--
	}
	return out
}
