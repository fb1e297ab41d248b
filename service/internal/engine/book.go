package engine

import (
	"errors"
	"fmt"
	"sort"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Book is one market's order book. It is not safe for concurrent use: the
// sequencer owns it from a single goroutine.
type Book struct {
	rules  Rules
	bids   bookSide
	asks   bookSide
	orders map[int64]*order
	// byOwner heads a per-owner list of resting orders, for cancel-all and
	// self-trade prevention bookkeeping without scanning the book.
	byOwner map[int64]*order
	free    []*order
}

// order is a resting order: a node in its price level's FIFO queue and in
// its owner's list.
type order struct {
	id, owner            int64
	side                 Side
	price, remaining     money.Amount
	lvl                  *level
	prev, next           *order
	ownerPrev, ownerNext *order
}

type level struct {
	price      money.Amount
	total      money.Amount
	count      int
	head, tail *order
}

// bookSide keeps its levels in a map for lookup and a sorted slice of
// prices for the best level, which is always the last element (highest bid,
// lowest ask), so taking and adding at the top never moves the slice.
type bookSide struct {
	isBid  bool
	levels map[money.Amount]*level
	prices []money.Amount
}

// NewBook makes an empty book with the market's rules.
func NewBook(r Rules) *Book {
	return &Book{
		rules:   r,
		bids:    bookSide{isBid: true, levels: map[money.Amount]*level{}},
		asks:    bookSide{levels: map[money.Amount]*level{}},
		orders:  map[int64]*order{},
		byOwner: map[int64]*order{},
	}
}

// Rules returns the book's rules.
func (b *Book) Rules() Rules { return b.rules }

// SetRules changes fees or steps for future orders; resting orders stay.
func (b *Book) SetRules(r Rules) { b.rules = r }

func (b *Book) side(s Side) *bookSide {
	if s == Buy {
		return &b.bids
	}
	return &b.asks
}

// better reports whether price a is better than b on this side.
func (s *bookSide) better(a, b money.Amount) bool {
	if s.isBid {
		return a > b
	}
	return a < b
}

func (s *bookSide) best() *level {
	if len(s.prices) == 0 {
		return nil
	}
	return s.levels[s.prices[len(s.prices)-1]]
}

func (s *bookSide) levelFor(price money.Amount) *level {
	if l, ok := s.levels[price]; ok {
		return l
	}
	l := &level{price: price}
	s.levels[price] = l
	// prices ascend in "goodness": position of the first price better
	// than ours (or equal, which cannot happen here).
	i := sort.Search(len(s.prices), func(i int) bool { return s.better(s.prices[i], price) })
	s.prices = append(s.prices, 0)
	copy(s.prices[i+1:], s.prices[i:])
	s.prices[i] = price
	return l
}

func (s *bookSide) dropLevel(l *level) {
	delete(s.levels, l.price)
	n := len(s.prices)
	if n > 0 && s.prices[n-1] == l.price {
		s.prices = s.prices[:n-1]
		return
	}
	i := sort.Search(n, func(i int) bool { return !s.better(l.price, s.prices[i]) })
	if i < n && s.prices[i] == l.price {
		s.prices = append(s.prices[:i], s.prices[i+1:]...)
	}
}

// crosses reports whether a limit price can trade at level price p.
func crosses(side Side, limit, p money.Amount) bool {
	if side == Buy {
		return p <= limit
	}
	return p >= limit
}

// Check validates an order against the market's rules without touching
// the book; the sequencer calls it before reserving any funds.
func (r Rules) Check(o Order) Reject {
	if o.Side != Buy && o.Side != Sell || o.ID <= 0 {
		return RejectInvalidOrder
	}
	switch o.Kind {
	case Limit:
		if o.TIF < GTC || o.TIF > FOK || o.QuoteQuantity != 0 {
			return RejectInvalidOrder
		}
		if o.Price <= 0 || !o.Price.IsMultipleOf(r.TickSize) {
			return RejectInvalidPrice
		}
		if o.Quantity <= 0 || !o.Quantity.IsMultipleOf(r.LotSize) {
			return RejectInvalidQuantity
		}
		notional, err := money.MulDivFloor(o.Price, o.Quantity, money.One)
		if err != nil {
			return RejectOverflow
		}
		if notional < r.MinNotional {
			return RejectBelowMinNotional
		}
	case Market:
		// A market order never rests, so GTC and post-only make no sense.
		if o.Price != 0 || o.PostOnly || (o.TIF != IOC && o.TIF != FOK) {
			return RejectInvalidOrder
		}
		switch {
		case o.Quantity > 0 && o.QuoteQuantity == 0:
			if !o.Quantity.IsMultipleOf(r.LotSize) {
				return RejectInvalidQuantity
			}
		case o.QuoteQuantity > 0 && o.Quantity == 0 && o.Side == Buy:
			// Spending a budget "in full" is ill-defined when lots do not
			// divide it, so a budget order is IOC only.
			if o.TIF != IOC {
				return RejectInvalidOrder
			}
			if !o.QuoteQuantity.IsMultipleOf(r.QuoteStep) {
				return RejectInvalidQuantity
			}
			if o.QuoteQuantity < r.MinNotional {
				return RejectBelowMinNotional
			}
		default:
			return RejectInvalidQuantity
		}
	default:
		return RejectInvalidOrder
	}
	return Accepted
}

// Preview walks the book as o would, without changing it, and reports what
// would trade: the base quantity and the quote amount. Orders of o's own
// owner are skipped, as self-trade prevention would cancel them. The
// sequencer uses it to reserve the exact cost of a market buy by quantity.
func (b *Book) Preview(o Order) (base, quote money.Amount, r Reject) {
	if r = b.rules.Check(o); r != Accepted {
		return 0, 0, r
	}
	return b.preview(o)
}

func (b *Book) preview(o Order) (base, quote money.Amount, r Reject) {
	opp := b.side(o.Side.Opposite())
	wantBase, budget := o.Quantity, o.QuoteQuantity
	byQuote := budget > 0
	for i := len(opp.prices) - 1; i >= 0; i-- {
		lvl := opp.levels[opp.prices[i]]
		if o.Kind == Limit && !crosses(o.Side, o.Price, lvl.price) {
			break
		}
		for m := lvl.head; m != nil; m = m.next {
			if m.owner == o.Owner {
				continue
			}
			var qty money.Amount
			if byQuote {
				affordable, err := money.MulDivFloor(budget, money.One, lvl.price)
				if err != nil {
					return 0, 0, RejectOverflow
				}
				qty = min(m.remaining, affordable.FloorTo(b.rules.LotSize))
				if qty == 0 {
					return base, quote, Accepted
				}
			} else {
				qty = min(m.remaining, wantBase-base)
			}
			q, err := money.MulDivFloor(lvl.price, qty, money.One)
			if err != nil {
				return 0, 0, RejectOverflow
			}
			if quote, err = quote.Add(q); err != nil {
				return 0, 0, RejectOverflow
			}
			base += qty
			if byQuote {
				budget -= q
			} else if base == wantBase {
				return base, quote, Accepted
			}
		}
	}
	return base, quote, Accepted
}

// Place runs an order against the book: it trades what it can at the best
// prices, then rests a GTC limit remainder. What happened is appended to ev.
// A rejected order changes nothing.
func (b *Book) Place(o Order, ev *Events) (Fill, Reject) {
	if r := b.rules.Check(o); r != Accepted {
		return Fill{}, r
	}
	if _, dup := b.orders[o.ID]; dup {
		return Fill{}, RejectInvalidOrder
	}
	opp := b.side(o.Side.Opposite())
	if o.PostOnly {
		if best := opp.best(); best != nil && crosses(o.Side, o.Price, best.price) {
			return Fill{}, RejectPostOnlyWouldTake
		}
	}
	// Market orders and FOK are walked first: FOK to know it can fill,
	// market orders so no running total can overflow half-way.
	if o.Kind == Market || o.TIF == FOK {
		base, _, r := b.preview(o)
		if r != Accepted {
			return Fill{}, r
		}
		if o.TIF == FOK && base < o.Quantity {
			return Fill{}, RejectFOKNotFilled
		}
	}

	var f Fill
	budget := o.QuoteQuantity
	byQuote := budget > 0
	takerFeeStep, makerFeeStep := b.rules.BaseStep, b.rules.QuoteStep // taker buys: receives base
	if o.Side == Sell {
		takerFeeStep, makerFeeStep = b.rules.QuoteStep, b.rules.BaseStep
	}
matching:
	for {
		lvl := opp.best()
		if lvl == nil || (o.Kind == Limit && !crosses(o.Side, o.Price, lvl.price)) {
			break
		}
		for m := lvl.head; m != nil; {
			next := m.next
			if m.owner == o.Owner {
				// Self-trade prevention: the resting order's remainder is
				// cancelled and the incoming order carries on.
				ev.Makers = append(ev.Makers, MakerUpdate{ID: m.id, Owner: m.owner, Side: m.side, Price: m.price, Cancelled: m.remaining})
				b.remove(m)
				m = next
				continue
			}
			var qty money.Amount
			if byQuote {
				affordable, _ := money.MulDivFloor(budget, money.One, lvl.price) // checked by preview
				qty = min(m.remaining, affordable.FloorTo(b.rules.LotSize))
				if qty == 0 {
					break matching
				}
			} else {
				qty = min(m.remaining, o.Quantity-f.Filled)
			}
			quote, _ := money.MulDivFloor(lvl.price, qty, money.One) // checked by Check or preview
			takerGets, makerGets := qty, quote
			if o.Side == Sell {
				takerGets, makerGets = quote, qty
			}
			t := Trade{
				MakerID: m.id, TakerID: o.ID, MakerOwner: m.owner, TakerOwner: o.Owner, TakerSide: o.Side,
				Price: lvl.price, Quantity: qty, Quote: quote,
				MakerFee: fee(makerGets, b.rules.MakerFeeBps, makerFeeStep),
				TakerFee: fee(takerGets, b.rules.TakerFeeBps, takerFeeStep),
			}
			ev.Trades = append(ev.Trades, t)
			f.Filled += qty
			f.FilledQuote += quote
			f.Fee += t.TakerFee
			if byQuote {
				budget -= quote
			}
			m.remaining -= qty
			lvl.total -= qty
			ev.Makers = append(ev.Makers, MakerUpdate{ID: m.id, Owner: m.owner, Side: m.side, Price: m.price, Filled: qty, Remaining: m.remaining})
			if m.remaining > 0 {
				// A maker left partly filled means the taker is spent:
				// nothing further is touched, not even its own orders.
				break matching
			}
			b.remove(m)
			if !byQuote && f.Filled == o.Quantity {
				break matching
			}
			m = next
		}
	}
	if o.Kind == Limit && o.TIF == GTC && f.Filled < o.Quantity {
		f.Resting = o.Quantity - f.Filled
		b.rest(o.ID, o.Owner, o.Side, o.Price, f.Resting)
	}
	f.Done = f.Resting == 0
	return f, Accepted
}

// fee is amount*bps/10000 rounded down to the asset's smallest unit: the
// rounding always favours the customer.
func fee(amount, bps, step money.Amount) money.Amount {
	if bps == 0 {
		return 0
	}
	f, err := money.MulDivFloor(amount, bps, 10_000)
	if err != nil {
		return 0 // unreachable: amount*bps fits 128 bits and the result is below amount
	}
	return f.FloorTo(step)
}

func (b *Book) rest(id, owner int64, side Side, price, qty money.Amount) {
	var o *order
	if n := len(b.free); n > 0 {
		o, b.free = b.free[n-1], b.free[:n-1]
	} else {
		o = new(order)
	}
	*o = order{id: id, owner: owner, side: side, price: price, remaining: qty}
	bs := b.side(side)
	l := bs.levelFor(price)
	o.lvl = l
	o.prev = l.tail
	if l.tail != nil {
		l.tail.next = o
	} else {
		l.head = o
	}
	l.tail = o
	l.total += qty
	l.count++
	if head := b.byOwner[owner]; head != nil {
		head.ownerPrev = o
		o.ownerNext = head
	}
	b.byOwner[owner] = o
	b.orders[id] = o
}

func (b *Book) remove(o *order) {
	l := o.lvl
	if o.prev != nil {
		o.prev.next = o.next
	} else {
		l.head = o.next
	}
	if o.next != nil {
		o.next.prev = o.prev
	} else {
		l.tail = o.prev
	}
	l.total -= o.remaining
	l.count--
	if l.count == 0 {
		b.side(o.side).dropLevel(l)
	}
	if o.ownerPrev != nil {
		o.ownerPrev.ownerNext = o.ownerNext
	} else if o.ownerNext != nil {
		b.byOwner[o.owner] = o.ownerNext
	} else {
		delete(b.byOwner, o.owner)
	}
	if o.ownerNext != nil {
		o.ownerNext.ownerPrev = o.ownerPrev
	}
	delete(b.orders, o.id)
	*o = order{}
	b.free = append(b.free, o)
}

// Cancel takes a resting order off the book and returns it as it was.
func (b *Book) Cancel(id int64) (RestingOrder, bool) {
	o, ok := b.orders[id]
	if !ok {
		return RestingOrder{}, false
	}
	r := RestingOrder{ID: o.id, Owner: o.owner, Side: o.side, Price: o.price, Remaining: o.remaining}
	b.remove(o)
	return r, true
}

// CancelOwner cancels every resting order of owner, newest first, and
// appends them to out.
func (b *Book) CancelOwner(owner int64, out []RestingOrder) []RestingOrder {
	for o := b.byOwner[owner]; o != nil; o = b.byOwner[owner] {
		out = append(out, RestingOrder{ID: o.id, Owner: o.owner, Side: o.side, Price: o.price, Remaining: o.remaining})
		b.remove(o)
	}
	return out
}

// Get returns a resting order.
func (b *Book) Get(id int64) (RestingOrder, bool) {
	o, ok := b.orders[id]
	if !ok {
		return RestingOrder{}, false
	}
	return RestingOrder{ID: o.id, Owner: o.owner, Side: o.side, Price: o.price, Remaining: o.remaining}, true
}

// LevelQuantity is the total resting quantity at one price on one side;
// zero when there is no such level.
func (b *Book) LevelQuantity(side Side, price money.Amount) money.Amount {
	if l, ok := b.side(side).levels[price]; ok {
		return l.total
	}
	return 0
}

// Len is the number of resting orders.
func (b *Book) Len() int { return len(b.orders) }

// ErrCrossed is returned by Restore for an order that would trade against
// the book: the stored state was not a valid book.
var ErrCrossed = errors.New("engine: restored order crosses the book")

// Restore puts an order that was resting before a restart back on the
// book, without matching. Orders must be restored in their original
// arrival order so time priority survives.
func (b *Book) Restore(r RestingOrder) error {
	if _, dup := b.orders[r.ID]; dup {
		return fmt.Errorf("engine: order %d restored twice", r.ID)
	}
	if r.Remaining <= 0 || r.Price <= 0 {
		return fmt.Errorf("engine: order %d has nothing to restore", r.ID)
	}
	if best := b.side(r.Side.Opposite()).best(); best != nil && crosses(r.Side, r.Price, best.price) {
		return fmt.Errorf("%w: order %d at %s", ErrCrossed, r.ID, r.Price)
	}
	b.rest(r.ID, r.Owner, r.Side, r.Price, r.Remaining)
	return nil
}

// Depth returns up to n aggregated levels per side, best first.
func (b *Book) Depth(n int) (bids, asks []Level) {
	return b.bids.depth(n), b.asks.depth(n)
}

func (s *bookSide) depth(n int) []Level {
	out := make([]Level, 0, min(n, len(s.prices)))
	for i := len(s.prices) - 1; i >= 0 && len(out) < n; i-- {
		l := s.levels[s.prices[i]]
		out = append(out, Level{Price: l.price, Quantity: l.total, Orders: l.count})
	}
	return out
}

// Orders lists resting orders in priority order (best price first, then
// arrival), bids then asks: a canonical form for comparing books.
func (b *Book) Orders() []RestingOrder {
	var out []RestingOrder
	for _, s := range []*bookSide{&b.bids, &b.asks} {
		for i := len(s.prices) - 1; i >= 0; i-- {
			for o := s.levels[s.prices[i]].head; o != nil; o = o.next {
				out = append(out, RestingOrder{ID: o.id, Owner: o.owner, Side: o.side, Price: o.price, Remaining: o.remaining})
			}
		}
	}
	return out
}
