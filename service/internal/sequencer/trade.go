package sequencer

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/audit"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

// apply runs one command against the state and the batch. A client error
// is returned in the Result and changed nothing; an error return is a
// fault that fails the whole batch.
func (s *state) apply(b *batch, cmd Command, ev *engine.Events) (Result, error) {
	switch {
	case cmd.Place != nil:
		return s.place(b, cmd.Place, ev)
	case cmd.Cancel != nil:
		return s.cancel(b, cmd.Cancel)
	case cmd.CancelAll != nil:
		return s.cancelAll(b, cmd.CancelAll)
	case cmd.MarketStatus != nil:
		return s.setMarketStatus(b, cmd.MarketStatus)
	case cmd.Deposit != nil:
		return s.deposit(b, cmd.Deposit)
	case cmd.ReviewDeposit != nil:
		return s.reviewDeposit(b, cmd.ReviewDeposit)
	case cmd.Withdraw != nil:
		return s.withdraw(b, cmd.Withdraw)
	case cmd.ReviewWithdrawal != nil:
		return s.reviewWithdrawal(b, cmd.ReviewWithdrawal)
	case cmd.CancelWithdrawal != nil:
		return s.cancelWithdrawal(b, cmd.CancelWithdrawal)
	case cmd.Adjust != nil:
		return s.adjust(b, cmd.Adjust)
	case cmd.ReviewAdjustment != nil:
		return s.reviewAdjustment(b, cmd.ReviewAdjustment)
	case cmd.Snapshot != nil:
		return s.snapshot(b, cmd.Snapshot)
	}
	return refuse(apierr.New(apierr.InvalidRequest, "empty command"))
}

func refuse(e *apierr.Error) (Result, error) { return Result{Error: e}, nil }

// refusal sorts what a command's first change answered: a client error is
// the command's refusal, anything else a fault.
func refusal(err error) (Result, error) {
	if e, ok := apierr.As(err); ok {
		return refuse(e)
	}
	return Result{}, err
}

// place runs exchange-core's pipeline for one order: the risk check holds
// what the order may spend, the engine matches it, the trades settle, and
// what the order no longer needs is released; all in memory, written with
// the batch.
func (s *state) place(b *batch, p *Place, ev *engine.Events) (Result, error) {
	m, ok := s.markets[p.Market]
	if !ok {
		return refuse(apierr.New(apierr.UnknownMarket, "unknown market %q", p.Market))
	}
	if p.ClientOrderID != "" {
		if o := s.clientIDs[clientKey{p.UserID, p.ClientOrderID}]; o != nil {
			return Result{Orders: []orders.Order{*o}, Existing: true}, nil
		}
	}
	if m.cat.Status != catalog.MarketOpen {
		return refuse(apierr.New(apierr.MarketHalted, "market %s is halted; new orders are refused, cancels still work", m.cat.Name))
	}
	o := p.Order
	o.ID, o.Owner = s.nextOrderID, p.AccountID
	if r := m.book.Rules().Check(o); r != engine.Accepted {
		return refuse(asClientError(orders.Explain(r, o, m.cat)))
	}

	// A market order by quantity is worth what the book pays or asks right
	// now: its minimum notional is checked on that (a dust trade is
	// refused; an empty book just expires the order), and a buy holds
	// exactly that cost.
	var cost money.Amount
	if o.Kind == engine.Market && o.QuoteQuantity == 0 {
		base, quote, r := m.book.Preview(o)
		switch {
		case r != engine.Accepted:
		case o.TIF == engine.FOK && base < o.Quantity:
			r = engine.RejectFOKNotFilled
		case quote > 0 && quote < m.cat.MinNotional:
			r = engine.RejectBelowMinNotional
		}
		if r != engine.Accepted {
			return refuse(asClientError(orders.Explain(r, o, m.cat)))
		}
		cost = quote
	}

	// Risk: hold what the order can spend, before it touches the book.
	asset := risk.HoldAsset(o.Side, m.cat.Base, m.cat.Quote)
	hold, err := risk.Hold(o, cost)
	if err != nil {
		return refuse(apierr.New(apierr.InvalidQuantity, "price times quantity is out of range"))
	}
	if avail := s.balances.Get(risk.Key{Account: p.AccountID, Asset: asset}).Available; avail < hold {
		return refuse(apierr.New(apierr.InsufficientFunds, "available %s %s, order needs %s %s", avail, asset, hold, asset))
	}

	// Match.
	ev.Reset()
	fill, r := m.book.Place(o, ev)
	if r != engine.Accepted {
		return refuse(asClientError(orders.Explain(r, o, m.cat)))
	}
	s.nextOrderID++

	rec := &orders.Order{
		ID: o.ID, UserID: p.UserID, AccountID: p.AccountID, Market: m.cat.Name,
		Side: o.Side, Type: o.Kind, TimeInForce: o.TIF, PostOnly: o.PostOnly,
		FilledQuantity: fill.Filled, FilledQuote: fill.FilledQuote, Fee: fill.Fee,
		CreatedAt: b.now, UpdatedAt: b.now,
	}
	if p.ClientOrderID != "" {
		id := p.ClientOrderID
		rec.ClientOrderID = &id
	}
	if o.Kind == engine.Limit {
		price := o.Price
		rec.Price = &price
	}
	if o.QuoteQuantity > 0 {
		q := o.QuoteQuantity
		rec.QuoteQuantity = &q
	} else {
		q := o.Quantity
		rec.Quantity = &q
	}
	switch {
	case fill.Resting > 0 && fill.Filled > 0:
		rec.Status = orders.StatusPartiallyFilled
	case fill.Resting > 0:
		rec.Status = orders.StatusOpen
	case fill.Filled > 0 && (o.QuoteQuantity > 0 || fill.Filled == o.Quantity):
		rec.Status = orders.StatusFilled
	default:
		rec.Status, rec.CancelReason = orders.StatusCancelled, orders.CancelIOCRemainder
	}
	s.remember(rec)
	b.orders.Placed(rec)
	if fill.Resting > 0 {
		s.open[rec.ID] = rec
		b.events.touch(m.cat.Name, o.Side, o.Price)
	} else {
		s.closed.add(rec)
	}

	// Settle, then release what the order no longer needs.
	var post risk.Postings
	post.Move(p.AccountID, asset, risk.Available, risk.Held, hold)
	selfTrade, err := s.settle(b, m, ev, &post, p.UserID)
	if err != nil {
		return Result{}, err
	}
	release, err := risk.Unspent(o, hold, fill)
	if err != nil {
		return Result{}, err
	}
	post.Move(p.AccountID, asset, risk.Held, risk.Available, release)
	if _, err := s.post(b, "order", "order "+strconv.FormatInt(o.ID, 10), nil, &post); err != nil {
		// The funds were checked before the book: nothing here may refuse.
		return Result{}, fmt.Errorf("sequencer: order %d: %w", o.ID, err)
	}
	b.events.orderChanged(rec)
	// The order first; then what self-trade prevention cancelled of the
	// trader's own, so that the answer can say so.
	return Result{Orders: append([]orders.Order{*rec}, selfTrade...)}, nil
}

// settle books the trades and maker changes of one command, and returns
// the makers self-trade prevention cancelled (all the taker's own).
func (s *state) settle(b *batch, m *market, ev *engine.Events, post *risk.Postings, takerUserID int64) (selfTrade []orders.Order, err error) {
	for _, t := range ev.Trades {
		risk.Settle(post, t, m.cat.Base, m.cat.Quote)
		maker := s.open[t.MakerID]
		if maker == nil {
			return nil, fmt.Errorf("sequencer: trade against unknown maker %d", t.MakerID)
		}
		maker.FilledQuantity += t.Quantity
		maker.FilledQuote += t.Quote
		maker.Fee += t.MakerFee
		row := orders.Trade{Trade: t, ID: s.nextTradeID, Market: m.cat.Name, MakerUserID: maker.UserID, TakerUserID: takerUserID}
		s.nextTradeID++
		b.orders.Traded(row)
		b.events.trade(row, b.now)
	}
	for _, u := range ev.Makers {
		b.events.touch(m.cat.Name, u.Side, u.Price)
		maker := s.open[u.ID]
		if maker == nil {
			return nil, fmt.Errorf("sequencer: update of unknown maker %d", u.ID)
		}
		switch {
		case u.Cancelled > 0:
			// Self-trade prevention cancelled it: release what it held.
			amount, err := risk.RestingHold(u.Side, u.Price, u.Cancelled)
			if err != nil {
				return nil, err
			}
			post.Move(maker.AccountID, risk.HoldAsset(u.Side, m.cat.Base, m.cat.Quote), risk.Held, risk.Available, amount)
			maker.Status, maker.CancelReason = orders.StatusCancelled, orders.CancelSelfTrade
		case u.Remaining == 0:
			maker.Status = orders.StatusFilled
		default:
			maker.Status = orders.StatusPartiallyFilled
		}
		maker.UpdatedAt = b.now
		if u.Remaining == 0 {
			delete(s.open, u.ID)
			s.closed.add(maker)
		}
		b.orders.Changed(maker)
		b.events.orderChanged(maker)
		if u.Cancelled > 0 {
			selfTrade = append(selfTrade, *maker)
		}
	}
	return selfTrade, nil
}

func (s *state) cancel(b *batch, c *Cancel) (Result, error) {
	o := s.open[c.OrderID]
	if o == nil || o.UserID != c.UserID {
		if st, ok := s.closed.status(c.UserID, c.OrderID); ok {
			return Result{NotOpen: true, Orders: []orders.Order{{ID: c.OrderID, UserID: c.UserID, Status: st}}}, nil
		}
		return Result{NotOpen: true}, nil
	}
	m := s.markets[o.Market]
	r, ok := m.book.Cancel(o.ID)
	if !ok {
		return Result{}, fmt.Errorf("sequencer: open order %d is not on the %s book", o.ID, o.Market)
	}
	var post risk.Postings
	if err := s.release(b, &post, m, o, r, orders.CancelUser); err != nil {
		return Result{}, err
	}
	if _, err := s.post(b, "cancel", "cancel order "+strconv.FormatInt(o.ID, 10), nil, &post); err != nil {
		return Result{}, err
	}
	return Result{Orders: []orders.Order{*o}}, nil
}

// release gives back a cancelled order's hold and closes it.
func (s *state) release(b *batch, post *risk.Postings, m *market, o *orders.Order, r engine.RestingOrder, why orders.CancelReason) error {
	amount, err := risk.RestingHold(r.Side, r.Price, r.Remaining)
	if err != nil {
		return err
	}
	post.Move(o.AccountID, risk.HoldAsset(r.Side, m.cat.Base, m.cat.Quote), risk.Held, risk.Available, amount)
	b.events.touch(m.cat.Name, r.Side, r.Price)
	o.Status, o.CancelReason, o.UpdatedAt = orders.StatusCancelled, why, b.now
	delete(s.open, o.ID)
	s.closed.add(o)
	b.orders.Changed(o)
	b.events.orderChanged(o)
	return nil
}

func (s *state) cancelAll(b *batch, c *CancelAll) (Result, error) {
	if c.Market != "" && s.markets[c.Market] == nil {
		return refuse(apierr.New(apierr.UnknownMarket, "unknown market %q", c.Market))
	}
	why := c.Reason
	if why == orders.CancelNone {
		why = orders.CancelUser
	}
	names := make([]string, 0, len(s.markets))
	for name := range s.markets {
		if c.Market == "" || c.Market == name {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var res Result
	var post risk.Postings
	for _, name := range names {
		m := s.markets[name]
		for _, r := range m.book.CancelOwner(c.AccountID, nil) {
			o := s.open[r.ID]
			if o == nil {
				return Result{}, fmt.Errorf("sequencer: book order %d has no record", r.ID)
			}
			if err := s.release(b, &post, m, o, r, why); err != nil {
				return Result{}, err
			}
			res.Orders = append(res.Orders, *o)
		}
	}
	if _, err := s.post(b, "cancel", "cancel all orders of account "+strconv.FormatInt(c.AccountID, 10), nil, &post); err != nil {
		return Result{}, err
	}
	return res, nil
}

func (s *state) setMarketStatus(b *batch, c *MarketStatus) (Result, error) {
	m := s.markets[c.Market]
	if m == nil {
		return refuse(apierr.New(apierr.UnknownMarket, "unknown market %q", c.Market))
	}
	if c.Status != catalog.MarketOpen && c.Status != catalog.MarketHalted {
		return refuse(apierr.New(apierr.InvalidRequest, "status must be open or halted"))
	}
	m.cat.Status = c.Status
	b.markets.SetStatus(c.Market, c.Status)
	if c.AdminID != 0 {
		b.audit.Add(audit.Entry{AdminID: c.AdminID, Action: "market_" + c.Status, Subject: "market " + c.Market})
	}
	return Result{}, nil
}

func asClientError(err error) *apierr.Error {
	if e, ok := apierr.As(err); ok {
		return e
	}
	return apierr.New(apierr.InvalidOrder, "%v", err)
}
