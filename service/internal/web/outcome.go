package web

import (
	"fmt"
	"strings"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// orderOutcome says what placing an order did, in the words a trader
// reads after pressing Buy or Sell: how much traded and at what average
// price, the fee, what rests on the book, and what was cancelled and why.
// "placed: cancelled" told a partly filled IOC order from one that did
// not trade at all by nothing.
func orderOutcome(v orders.JSON, m catalog.Market) string {
	name := capitalised(v.Side.String()) + " order " + v.ID
	if v.Type == engine.Market {
		name = "Market " + v.Side.String() + " order " + v.ID
	}
	verb := "bought"
	if v.Side == engine.Sell {
		verb = "sold"
	}
	// traded is what traded: "0.2 of 0.3 BTC bought for 6,000 USDT at an
	// average price of 30,000 USDT (fee 0.0004 BTC)"; of and spent are
	// left out when empty.
	traded := func(of, spent string) string {
		s := grouped(v.FilledQuantity)
		if of != "" {
			s += " of " + of
		}
		s += " " + m.Base + " " + verb
		if spent != "" {
			s += " for " + spent + " " + m.Quote
		}
		s += fmt.Sprintf(" at an average price of %s %s", grouped(*v.AveragePrice), m.Quote)
		if v.Fee > 0 {
			s += fmt.Sprintf(" (fee %s %s)", grouped(v.Fee), v.FeeAsset)
		}
		return s
	}
	if v.QuoteQuantity != nil {
		// A market buy by budget: filled once it traded at all.
		budget := *v.QuoteQuantity
		if v.FilledQuantity == 0 {
			return fmt.Sprintf("%s did not trade: there was nothing to buy on the book, and a market order never rests on it. Nothing of the %s %s budget was spent.",
				name, grouped(budget), m.Quote)
		}
		s := fmt.Sprintf("%s filled: %s", name, traded("", grouped(v.FilledQuote)))
		if left := budget - v.FilledQuote; left > 0 {
			s += fmt.Sprintf("; %s %s of the %s %s budget was not spent", grouped(left), m.Quote, grouped(budget), m.Quote)
		}
		return s + "."
	}
	qty := *v.Quantity
	at := ""
	if v.Price != nil {
		at = fmt.Sprintf(" at %s %s", grouped(*v.Price), m.Quote)
	}
	rest := qty - v.FilledQuantity
	switch v.Status {
	case orders.StatusOpen:
		return fmt.Sprintf("%s placed: %s %s%s is on the book.", name, grouped(qty), m.Base, at)
	case orders.StatusPartiallyFilled:
		return fmt.Sprintf("%s: %s; the other %s %s is on the book%s.", name, traded(grouped(qty), ""), grouped(rest), m.Base, at)
	case orders.StatusFilled:
		return fmt.Sprintf("%s filled: %s.", name, traded("", ""))
	}
	why := reasonSentence(v.CancelReason)
	if v.FilledQuantity == 0 {
		s := fmt.Sprintf("%s did not trade and was cancelled", name)
		if v.CancelReason == orders.CancelIOCRemainder {
			s += ": " + nothingToTrade(v, m) + ", and " + neverRests(v)
		} else if why != "" {
			s += " " + why
		}
		return s + ". Nothing was spent."
	}
	s := fmt.Sprintf("%s: %s. The other %s %s was cancelled", name, traded(grouped(qty), ""), grouped(rest), m.Base)
	if v.CancelReason == orders.CancelIOCRemainder {
		return s + ": " + neverRests(v) + "."
	}
	if why != "" {
		s += " " + why
	}
	return s + "."
}

func nothingToTrade(v orders.JSON, m catalog.Market) string {
	other := "sell"
	if v.Side == engine.Sell {
		other = "buy"
	}
	if v.Price == nil {
		return fmt.Sprintf("the book had no %s orders", other)
	}
	better := "or lower"
	if v.Side == engine.Sell {
		better = "or higher"
	}
	return fmt.Sprintf("there was no %s order at %s %s %s", other, grouped(*v.Price), m.Quote, better)
}

func neverRests(v orders.JSON) string {
	if v.Type == engine.Market {
		return "a market order never rests on the book"
	}
	return "an immediate-or-cancel order never rests on the book"
}

// selfTradeNotice tells the trader which of their resting orders
// self-trade prevention cancelled on the way of the order they placed.
func selfTradeNotice(cancelled []orders.JSON, m catalog.Market) string {
	if len(cancelled) == 0 {
		return ""
	}
	parts := make([]string, len(cancelled))
	for i, o := range cancelled {
		left := *o.Quantity - o.FilledQuantity
		parts[i] = fmt.Sprintf("%s order %s (%s %s at %s %s)", o.Side, o.ID, grouped(left), m.Base, grouped(*o.Price), m.Quote)
	}
	them := "it"
	if len(parts) > 1 {
		them = "them"
	}
	return fmt.Sprintf("Self-trade prevention cancelled your resting %s: this order would have traded with %s, and the exchange never lets you trade with yourself.",
		strings.Join(parts, ", "), them)
}

// grouped is an amount exactly, with commas between thousands.
func grouped(a money.Amount) string {
	s := a.String()
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := sign + b.String()
	if dot {
		out += "." + frac
	}
	return out
}
