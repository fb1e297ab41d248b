package engine_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// refBook is the reference model: a deliberately simple, obviously correct
// order book. Resting orders live in one slice in arrival order; every
// match scans it for the best price and, among equals, the earliest
// arrival. It is O(n) per match and shares no code with the engine.
type refBook struct {
	rules  engine.Rules
	orders []engine.RestingOrder
}

func (r *refBook) bestIndex(side engine.Side, owner int64, skipOwner bool) int {
	best := -1
	for i, o := range r.orders {
		if o.Side != side || (skipOwner && o.Owner == owner) {
			continue
		}
		if best == -1 ||
			(side == engine.Sell && o.Price < r.orders[best].Price) ||
			(side == engine.Buy && o.Price > r.orders[best].Price) {
			best = i
		}
	}
	return best
}

func (r *refBook) crosses(o engine.Order, price money.Amount) bool {
	if o.Kind == engine.Market {
		return true
	}
	if o.Side == engine.Buy {
		return price <= o.Price
	}
	return price >= o.Price
}

// fillable simulates the match without STP cancellations, skipping own orders.
func (r *refBook) fillable(o engine.Order) money.Amount {
	saved := slices.Clone(r.orders)
	defer func() { r.orders = saved }()
	var filled money.Amount
	for filled < o.Quantity {
		i := r.bestIndex(o.Side.Opposite(), o.Owner, true)
		if i < 0 || !r.crosses(o, r.orders[i].Price) {
			break
		}
		q := min(r.orders[i].Remaining, o.Quantity-filled)
		filled += q
		r.orders[i].Remaining -= q
		if r.orders[i].Remaining == 0 {
			r.orders = slices.Delete(r.orders, i, i+1)
		}
	}
	return filled
}

// refCheck is the market's rules written out plainly, in the order the
// API documents them, with big.Int for the notional: it shares no code
// with Rules.Check, so a wrong reject reason there shows up as a mismatch.
func refCheck(r engine.Rules, o engine.Order) engine.Reject {
	multiple := func(a, step money.Amount) bool { return step > 0 && a%step == 0 }
	if (o.Side != engine.Buy && o.Side != engine.Sell) || o.ID <= 0 {
		return engine.RejectInvalidOrder
	}
	switch o.Kind {
	case engine.Limit:
		if (o.TIF != engine.GTC && o.TIF != engine.IOC && o.TIF != engine.FOK) || o.QuoteQuantity != 0 {
			return engine.RejectInvalidOrder
		}
		if o.Price <= 0 || !multiple(o.Price, r.TickSize) {
			return engine.RejectInvalidPrice
		}
		if o.Quantity <= 0 || !multiple(o.Quantity, r.LotSize) {
			return engine.RejectInvalidQuantity
		}
		notional := new(big.Int).Mul(big.NewInt(int64(o.Price)), big.NewInt(int64(o.Quantity)))
		notional.Quo(notional, big.NewInt(int64(money.One)))
		if !notional.IsInt64() {
			return engine.RejectOverflow
		}
		if notional.Int64() < int64(r.MinNotional) {
			return engine.RejectBelowMinNotional
		}
		return engine.Accepted
	case engine.Market:
		if o.Price != 0 || o.PostOnly || (o.TIF != engine.IOC && o.TIF != engine.FOK) {
			return engine.RejectInvalidOrder
		}
		byQuantity := o.Quantity > 0 && o.QuoteQuantity == 0
		byBudget := o.QuoteQuantity > 0 && o.Quantity == 0 && o.Side == engine.Buy
		switch {
		case byQuantity && !multiple(o.Quantity, r.LotSize):
			return engine.RejectInvalidQuantity
		case byQuantity:
			return engine.Accepted
		case byBudget && o.TIF != engine.IOC:
			return engine.RejectInvalidOrder
		case byBudget && !multiple(o.QuoteQuantity, r.QuoteStep):
			return engine.RejectInvalidQuantity
		case byBudget && o.QuoteQuantity < r.MinNotional:
			return engine.RejectBelowMinNotional
		case byBudget:
			return engine.Accepted
		}
		return engine.RejectInvalidQuantity
	}
	return engine.RejectInvalidOrder
}

func refFee(amount, bps, step money.Amount) money.Amount {
	// amount*bps/10000 with big-enough intermediates; amounts here are small.
	f := amount * bps / 10_000
	return f - f%step
}

func (r *refBook) place(o engine.Order, ev *engine.Events) (engine.Fill, engine.Reject) {
	if rej := refCheck(r.rules, o); rej != engine.Accepted {
		return engine.Fill{}, rej
	}
	if o.PostOnly {
		if i := r.bestIndex(o.Side.Opposite(), 0, false); i >= 0 && r.crosses(o, r.orders[i].Price) {
			return engine.Fill{}, engine.RejectPostOnlyWouldTake
		}
	}
	if o.TIF == engine.FOK && r.fillable(o) < o.Quantity {
		return engine.Fill{}, engine.RejectFOKNotFilled
	}
	var f engine.Fill
	budget := o.QuoteQuantity
	for {
		if o.QuoteQuantity == 0 && f.Filled == o.Quantity {
			break
		}
		i := r.bestIndex(o.Side.Opposite(), 0, false)
		if i < 0 || !r.crosses(o, r.orders[i].Price) {
			break
		}
		m := &r.orders[i]
		if m.Owner == o.Owner {
			ev.Makers = append(ev.Makers, engine.MakerUpdate{ID: m.ID, Owner: m.Owner, Side: m.Side, Price: m.Price, Cancelled: m.Remaining})
			r.orders = slices.Delete(r.orders, i, i+1)
			continue
		}
		var q money.Amount
		if o.QuoteQuantity > 0 {
			afford := budget * money.One / m.Price
			afford -= afford % r.rules.LotSize
			q = min(m.Remaining, afford)
			if q == 0 {
				break
			}
		} else {
			q = min(m.Remaining, o.Quantity-f.Filled)
		}
		quote := m.Price * q / money.One
		t := engine.Trade{MakerID: m.ID, TakerID: o.ID, MakerOwner: m.Owner, TakerOwner: o.Owner, TakerSide: o.Side, Price: m.Price, Quantity: q, Quote: quote}
		if o.Side == engine.Buy {
			t.TakerFee = refFee(q, r.rules.TakerFeeBps, r.rules.BaseStep)
			t.MakerFee = refFee(quote, r.rules.MakerFeeBps, r.rules.QuoteStep)
		} else {
			t.TakerFee = refFee(quote, r.rules.TakerFeeBps, r.rules.QuoteStep)
			t.MakerFee = refFee(q, r.rules.MakerFeeBps, r.rules.BaseStep)
		}
		ev.Trades = append(ev.Trades, t)
		f.Filled += q
		f.FilledQuote += quote
		f.Fee += t.TakerFee
		budget -= quote
		m.Remaining -= q
		ev.Makers = append(ev.Makers, engine.MakerUpdate{ID: m.ID, Owner: m.Owner, Side: m.Side, Price: m.Price, Filled: q, Remaining: m.Remaining})
		if m.Remaining == 0 {
			r.orders = slices.Delete(r.orders, i, i+1)
		}
	}
	if o.Kind == engine.Limit && o.TIF == engine.GTC && f.Filled < o.Quantity {
		f.Resting = o.Quantity - f.Filled
		r.orders = append(r.orders, engine.RestingOrder{ID: o.ID, Owner: o.Owner, Side: o.Side, Price: o.Price, Remaining: f.Resting})
	}
	f.Done = f.Resting == 0
	return f, engine.Accepted
}

func (r *refBook) cancel(id int64) (engine.RestingOrder, bool) {
	for i, o := range r.orders {
		if o.ID == id {
			r.orders = slices.Delete(r.orders, i, i+1)
			return o, true
		}
	}
	return engine.RestingOrder{}, false
}

func (r *refBook) cancelOwner(owner int64) []engine.RestingOrder {
	var out []engine.RestingOrder
	for i := len(r.orders) - 1; i >= 0; i-- {
		if r.orders[i].Owner == owner {
			out = append(out, r.orders[i])
			r.orders = slices.Delete(r.orders, i, i+1)
		}
	}
	return out
}

// canonical lists resting orders best price first, then arrival, bids then
// asks, like Book.Orders.
func (r *refBook) canonical() []engine.RestingOrder {
	var out []engine.RestingOrder
	for _, side := range []engine.Side{engine.Buy, engine.Sell} {
		var s []engine.RestingOrder
		for _, o := range r.orders {
			if o.Side == side {
				s = append(s, o)
			}
		}
		slices.SortStableFunc(s, func(a, b engine.RestingOrder) int {
			if side == engine.Buy {
				return int(b.Price - a.Price)
			}
			return int(a.Price - b.Price)
		})
		out = append(out, s...)
	}
	return out
}

var testRules = engine.Rules{
	TickSize:    money.MustParse("0.01"),
	LotSize:     money.MustParse("0.001"),
	MinNotional: money.MustParse("0.1"),
	MakerFeeBps: 10,
	TakerFeeBps: 25,
	BaseStep:    money.StepOf(8),
	QuoteStep:   money.StepOf(6),
}

// command is one step of a random stream.
type command struct {
	place       *engine.Order
	cancel      int64
	cancelOwner int64
}

func (c command) String() string {
	switch {
	case c.place != nil:
		return fmt.Sprintf("place %+v", *c.place)
	case c.cancel != 0:
		return fmt.Sprintf("cancel %d", c.cancel)
	}
	return fmt.Sprintf("cancel-owner %d", c.cancelOwner)
}

// randomStream makes n commands around a mid price of 100.00: mostly limit
// orders a few ticks either side (so books build up and cross), some market
// orders, cancels of earlier ids, a few owners so self-trades happen.
func randomStream(seed uint64, n int) []command {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []command
	nextID := int64(1)
	for len(out) < n {
		switch p := rng.IntN(100); {
		case p < 12 && nextID > 1:
			out = append(out, command{cancel: 1 + rng.Int64N(nextID-1)})
		case p < 14:
			out = append(out, command{cancelOwner: 1 + rng.Int64N(4)})
		default:
			o := engine.Order{ID: nextID, Owner: 1 + rng.Int64N(4), Side: engine.Side(1 + rng.IntN(2))}
			nextID++
			o.Quantity = money.Amount(1+rng.IntN(50)) * testRules.LotSize * money.Amount(1+rng.IntN(3))
			if rng.IntN(10) == 0 {
				o.Kind, o.TIF = engine.Market, engine.IOC
				if rng.IntN(3) == 0 {
					o.TIF = engine.FOK
				}
				if o.Side == engine.Buy && rng.IntN(2) == 0 {
					o.Quantity, o.QuoteQuantity, o.TIF = 0, money.Amount(1+rng.IntN(3000))*money.MustParse("0.01"), engine.IOC
				}
			} else {
				o.Kind, o.TIF = engine.Limit, engine.TimeInForce(1+rng.IntN(3))
				if rng.IntN(4) > 0 {
					o.TIF = engine.GTC
				}
				offset := money.Amount(rng.IntN(21)-10) * testRules.TickSize
				o.Price = money.MustParse("100") + offset
				o.PostOnly = o.TIF == engine.GTC && rng.IntN(8) == 0
				if rng.IntN(50) == 0 {
					o.Price += 1 // off-tick: must be rejected identically
				}
			}
			if rng.IntN(25) == 0 {
				breakRule(rng, &o) // every reject reason, checked against refCheck
			}
			out = append(out, command{place: &o})
		}
	}
	return out
}

// breakRule makes o break one of the market's rules (or, for some
// combinations, none: the check must still agree).
func breakRule(rng *rand.Rand, o *engine.Order) {
	switch rng.IntN(8) {
	case 0:
		o.Quantity += 1 // off-lot
	case 1:
		o.Quantity = 0
	case 2:
		o.Price, o.Quantity = testRules.TickSize, testRules.LotSize // dust
	case 3:
		// price × quantity overflows: refused, so it never rests (the
		// reference model's own arithmetic is only good for small amounts)
		o.Price = money.Amount(1<<50) - money.Amount(1<<50)%testRules.TickSize
		o.Quantity = money.Amount(1<<50) - money.Amount(1<<50)%testRules.LotSize
	case 4:
		o.Kind, o.TIF, o.Price = engine.Market, engine.GTC, 0
	case 5:
		o.Kind, o.TIF, o.Price, o.QuoteQuantity = engine.Market, engine.FOK, 0, money.MustParse("5")
		o.Quantity = 0
	case 6:
		o.QuoteQuantity = money.MustParse("0.5") // on a limit order, or a budget below the minimum
	case 7:
		o.Side = engine.Side(9)
	}
}

// The engine and the reference model must agree on every command of
// thousands of random streams: rejects, fills, trades, fees, maker updates
// and the resulting book.
func TestEngineMatchesReferenceModel(t *testing.T) {
	seeds := 3000
	if testing.Short() {
		seeds = 300
	}
	for seed := range uint64(seeds) {
		book := engine.NewBook(testRules)
		ref := &refBook{rules: testRules}
		var ev, rev engine.Events
		for step, c := range randomStream(seed, 200) {
			ev.Reset()
			rev.Reset()
			switch {
			case c.place != nil:
				f, rej := book.Place(*c.place, &ev)
				rf, rrej := ref.place(*c.place, &rev)
				if rej != rrej || f != rf {
					t.Fatalf("seed %d step %d %s:\nengine %+v %v\nref    %+v %v", seed, step, c, f, rej, rf, rrej)
				}
				if !reflect.DeepEqual(ev.Trades, rev.Trades) || !reflect.DeepEqual(ev.Makers, rev.Makers) {
					t.Fatalf("seed %d step %d %s:\nengine trades %+v makers %+v\nref    trades %+v makers %+v", seed, step, c, ev.Trades, ev.Makers, rev.Trades, rev.Makers)
				}
			case c.cancel != 0:
				o, ok := book.Cancel(c.cancel)
				ro, rok := ref.cancel(c.cancel)
				if ok != rok || o != ro {
					t.Fatalf("seed %d step %d %s: engine %+v %v, ref %+v %v", seed, step, c, o, ok, ro, rok)
				}
			default:
				got := book.CancelOwner(c.cancelOwner, nil)
				want := ref.cancelOwner(c.cancelOwner)
				slices.SortFunc(got, func(a, b engine.RestingOrder) int { return int(a.ID - b.ID) })
				slices.SortFunc(want, func(a, b engine.RestingOrder) int { return int(a.ID - b.ID) })
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d step %d %s: engine %+v, ref %+v", seed, step, c, got, want)
				}
			}
			if got, want := book.Orders(), ref.canonical(); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d step %d %s: books differ\nengine %+v\nref    %+v", seed, step, c, got, want)
			}
		}
	}
}

// The same stream must always give the same result.
func TestDeterministic(t *testing.T) {
	run := func() ([]engine.Trade, []engine.RestingOrder) {
		book := engine.NewBook(testRules)
		var all []engine.Trade
		var ev engine.Events
		for _, c := range randomStream(42, 5000) {
			ev.Reset()
			switch {
			case c.place != nil:
				book.Place(*c.place, &ev)
			case c.cancel != 0:
				book.Cancel(c.cancel)
			default:
				book.CancelOwner(c.cancelOwner, nil)
			}
			all = append(all, ev.Trades...)
		}
		return all, book.Orders()
	}
	t1, b1 := run()
	t2, b2 := run()
	if len(t1) == 0 || !reflect.DeepEqual(t1, t2) || !reflect.DeepEqual(b1, b2) {
		t.Fatalf("two runs differ (or nothing traded: %d trades)", len(t1))
	}
}
