package sequencer

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

type balanceKey struct {
	account int64
	asset   string
}

// balance is a balance as the batch sees it: the committed values (when
// loaded under lock) plus this batch's changes, which are also kept apart
// as deltas for the write.
type balance struct {
	available, held   money.Amount
	dAvailable, dHeld money.Amount
	loaded            bool
}

type clientKey struct {
	user int64
	id   string
}

type entry struct {
	id   int64
	kind string
	memo string
	legs []ledger.Leg
}

// batch accumulates everything a group of commands changes, to be written
// in one transaction.
type batch struct {
	now      time.Time
	balances map[balanceKey]*balance
	// existingClientIDs are orders already in the database whose
	// client_order_id a command in this batch repeats.
	existingClientIDs map[clientKey]*orders.Order
	clientIDs         map[clientKey]*orders.Order // placed in this batch
	newOrders         []*orders.Order
	newOrderIDs       map[int64]bool
	changedOrders     map[int64]*orders.Order
	trades            []tradeRow
	entries           []entry
	marketStatus      map[string]string
	events            eventLog
}

type tradeRow struct {
	engine.Trade
	id          int64
	market      string
	makerUserID int64
	takerUserID int64
}

func newBatch(now time.Time) *batch {
	return &batch{
		now:               now,
		balances:          map[balanceKey]*balance{},
		existingClientIDs: map[clientKey]*orders.Order{},
		clientIDs:         map[clientKey]*orders.Order{},
		newOrderIDs:       map[int64]bool{},
		changedOrders:     map[int64]*orders.Order{},
		marketStatus:      map[string]string{},
	}
}

func (b *batch) balance(account int64, asset string) *balance {
	k := balanceKey{account, asset}
	bal, ok := b.balances[k]
	if !ok {
		bal = &balance{}
		b.balances[k] = bal
	}
	return bal
}

// holdAsset is what a place command reserves: the quote asset for buys, the
// base for sells. The batch loads (and locks) these balances up front.
func holdAsset(p *Place, m *market) string {
	if p.Order.Side == engine.Buy {
		return m.cat.Quote
	}
	return m.cat.Base
}

// postings nets one command's legs per (account, asset, bucket): the
// journal records what each balance gained or lost, not every step.
type postings struct {
	net map[ledger.Leg]money.Amount // key has Amount zero
}

func (p *postings) add(account int64, asset string, bucket ledger.Bucket, amount money.Amount) {
	if amount == 0 {
		return
	}
	if p.net == nil {
		p.net = map[ledger.Leg]money.Amount{}
	}
	p.net[ledger.Leg{Account: account, Asset: asset, Bucket: bucket}] += amount
}

func (p *postings) move(account int64, asset string, from, to ledger.Bucket, amount money.Amount) {
	p.add(account, asset, from, -amount)
	p.add(account, asset, to, amount)
}

// legs returns the non-zero net legs in a fixed order, so the same command
// stream writes the same journal.
func (p *postings) legs() []ledger.Leg {
	out := make([]ledger.Leg, 0, len(p.net))
	for k, v := range p.net {
		if v != 0 {
			k.Amount = v
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Asset != b.Asset {
			return a.Asset < b.Asset
		}
		return a.Bucket < b.Bucket
	})
	return out
}

// post applies the legs to the batch's balances and records the entry. A
// held balance going negative means a reservation was lost: a bug that
// must stop the batch rather than be written.
func (b *batch) post(kind, memo string, p *postings) error {
	legs := p.legs()
	if len(legs) == 0 {
		return nil
	}
	e := ledger.Entry{Kind: kind, Memo: memo, Legs: legs}
	if err := e.Validate(); err != nil {
		return err
	}
	for _, l := range legs {
		b.events.account(l.Account)
		bal := b.balance(l.Account, l.Asset)
		if l.Bucket == ledger.Available {
			bal.available += l.Amount
			bal.dAvailable += l.Amount
		} else {
			bal.held += l.Amount
			bal.dHeld += l.Amount
		}
		if bal.loaded && l.Account != ledger.ExternalAccount && (bal.available < 0 || bal.held < 0) {
			return fmt.Errorf("sequencer: account %d %s would go negative (available %s, held %s) in %s", l.Account, l.Asset, bal.available, bal.held, memo)
		}
	}
	b.entries = append(b.entries, entry{kind: kind, memo: memo, legs: legs})
	return nil
}

// apply runs one command against the state and the batch. A client error
// is returned in the Result; an error return is a fault that fails the
// whole batch.
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
	}
	return refuse(apierr.New(apierr.InvalidRequest, "empty command"))
}

func refuse(e *apierr.Error) (Result, error) { return Result{Error: e}, nil }

func sideName(s engine.Side) string { return s.String() }

func tifName(t engine.TimeInForce) string {
	switch t {
	case engine.IOC:
		return "IOC"
	case engine.FOK:
		return "FOK"
	}
	return "GTC"
}

func (s *state) place(b *batch, p *Place, ev *engine.Events) (Result, error) {
	m, ok := s.markets[p.Market]
	if !ok {
		return refuse(apierr.New(apierr.UnknownMarket, "unknown market %q", p.Market))
	}
	if p.ClientOrderID != "" {
		k := clientKey{p.UserID, p.ClientOrderID}
		if o := b.clientIDs[k]; o != nil {
			return Result{Orders: []orders.Order{*o}, Existing: true}, nil
		}
		if o := b.existingClientIDs[k]; o != nil {
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
	// refused; an empty book just expires the order), and a buy reserves
	// exactly that cost.
	var marketCost money.Amount
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
		marketCost = quote
	}

	// Reserve what the order can spend, before it touches the book.
	asset := holdAsset(p, m)
	var hold money.Amount
	var err error
	switch {
	case o.Side == engine.Sell:
		hold = o.Quantity
	case o.Kind == engine.Limit:
		hold, err = money.MulDivCeil(o.Price, o.Quantity, money.One)
	case o.QuoteQuantity > 0:
		hold = o.QuoteQuantity
	default:
		hold = marketCost
	}
	if err != nil {
		return refuse(apierr.New(apierr.InvalidQuantity, "price times quantity is out of range"))
	}
	bal := b.balance(p.AccountID, asset)
	if !bal.loaded {
		return Result{}, fmt.Errorf("sequencer: balance %d/%s was not loaded for order %d", p.AccountID, asset, o.ID)
	}
	if bal.available < hold {
		return refuse(apierr.New(apierr.InsufficientFunds, "available %s %s, order needs %s %s", bal.available, asset, hold, asset))
	}

	ev.Reset()
	fill, r := m.book.Place(o, ev)
	if r != engine.Accepted {
		return refuse(asClientError(orders.Explain(r, o, m.cat)))
	}
	s.nextOrderID++

	rec := &orders.Order{
		ID: o.ID, UserID: p.UserID, AccountID: p.AccountID, Market: m.cat.Name,
		Side: sideName(o.Side), Type: "limit", TimeInForce: tifName(o.TIF), PostOnly: o.PostOnly,
		FilledQuantity: fill.Filled, FilledQuote: fill.FilledQuote, Fee: fill.Fee,
		CreatedAt: b.now, UpdatedAt: b.now,
	}
	if p.ClientOrderID != "" {
		id := p.ClientOrderID
		rec.ClientOrderID = &id
		b.clientIDs[clientKey{p.UserID, id}] = rec
	}
	if o.Kind == engine.Market {
		rec.Type = "market"
	} else {
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
		rec.Status = orders.StatusCancelled // IOC, FOK or market remainder
	}
	b.newOrders = append(b.newOrders, rec)
	b.newOrderIDs[rec.ID] = true
	if fill.Resting > 0 {
		s.open[rec.ID] = rec
		b.events.touch(m.cat.Name, o.Side, o.Price)
	}

	var post postings
	post.move(p.AccountID, asset, ledger.Available, ledger.Held, hold)
	if err := s.settle(b, m, ev, &post, p.UserID); err != nil {
		return Result{}, err
	}
	// Give back what the taker reserved but neither spent nor still needs
	// for its resting remainder (price improvement, IOC remainders).
	spent, keep := fill.Filled, fill.Resting
	if o.Side == engine.Buy {
		spent = fill.FilledQuote
		keep, _ = money.MulDivCeil(o.Price, fill.Resting, money.One)
	}
	release := hold - spent - keep
	if release < 0 {
		return Result{}, fmt.Errorf("sequencer: order %d spent more than it reserved (%s)", o.ID, release)
	}
	post.move(p.AccountID, asset, ledger.Held, ledger.Available, release)
	if err := b.post("order", "order "+strconv.FormatInt(o.ID, 10), &post); err != nil {
		return Result{}, err
	}
	b.events.orderChanged(rec)
	return Result{Orders: []orders.Order{*rec}}, nil
}

// settle books the trades and maker changes of one command.
func (s *state) settle(b *batch, m *market, ev *engine.Events, post *postings, takerUserID int64) error {
	base, quote := m.cat.Base, m.cat.Quote
	for _, t := range ev.Trades {
		buyer, seller := t.TakerOwner, t.MakerOwner
		buyerFee, sellerFee := t.TakerFee, t.MakerFee
		if t.TakerSide == engine.Sell {
			buyer, seller = seller, buyer
			buyerFee, sellerFee = sellerFee, buyerFee
		}
		post.add(buyer, quote, ledger.Held, -t.Quote)
		post.add(seller, quote, ledger.Available, t.Quote-sellerFee)
		post.add(ledger.FeeAccount, quote, ledger.Available, sellerFee)
		post.add(seller, base, ledger.Held, -t.Quantity)
		post.add(buyer, base, ledger.Available, t.Quantity-buyerFee)
		post.add(ledger.FeeAccount, base, ledger.Available, buyerFee)

		maker := s.open[t.MakerID]
		if maker == nil {
			return fmt.Errorf("sequencer: trade against unknown maker %d", t.MakerID)
		}
		maker.FilledQuantity += t.Quantity
		maker.FilledQuote += t.Quote
		maker.Fee += t.MakerFee
		row := tradeRow{Trade: t, id: s.nextTradeID, market: m.cat.Name, makerUserID: maker.UserID, takerUserID: takerUserID}
		s.nextTradeID++
		b.trades = append(b.trades, row)
		b.events.trade(m.cat.Name, row, b.now)
	}
	for _, u := range ev.Makers {
		b.events.touch(m.cat.Name, u.Side, u.Price)
		maker := s.open[u.ID]
		if maker == nil {
			return fmt.Errorf("sequencer: update of unknown maker %d", u.ID)
		}
		switch {
		case u.Cancelled > 0:
			// Self-trade prevention cancelled it: release its reservation.
			asset, amount := base, u.Cancelled
			if u.Side == engine.Buy {
				asset, amount = quote, mustMul(u.Price, u.Cancelled)
			}
			post.move(maker.AccountID, asset, ledger.Held, ledger.Available, amount)
			maker.Status = orders.StatusCancelled
		case u.Remaining == 0:
			maker.Status = orders.StatusFilled
		default:
			maker.Status = orders.StatusPartiallyFilled
		}
		maker.UpdatedAt = b.now
		if u.Remaining == 0 {
			delete(s.open, u.ID)
		}
		b.changed(maker)
	}
	return nil
}

func (b *batch) changed(o *orders.Order) {
	if !b.newOrderIDs[o.ID] {
		b.changedOrders[o.ID] = o
	}
	b.events.orderChanged(o)
}

// mustMul is price*quantity for a resting order, which Check proved exact
// and in range when the order was placed.
func mustMul(price, qty money.Amount) money.Amount {
	v, err := money.MulDivFloor(price, qty, money.One)
	if err != nil {
		panic(fmt.Sprintf("sequencer: resting order notional out of range: %s x %s", price, qty))
	}
	return v
}

func (s *state) cancel(b *batch, c *Cancel) (Result, error) {
	o := s.open[c.OrderID]
	if o == nil || o.UserID != c.UserID {
		return Result{NotOpen: true}, nil
	}
	m := s.markets[o.Market]
	r, ok := m.book.Cancel(o.ID)
	if !ok {
		return Result{}, fmt.Errorf("sequencer: open order %d is not on the %s book", o.ID, o.Market)
	}
	var post postings
	s.release(b, &post, m, o, r)
	if err := b.post("cancel", "cancel order "+strconv.FormatInt(o.ID, 10), &post); err != nil {
		return Result{}, err
	}
	b.changed(o)
	return Result{Orders: []orders.Order{*o}}, nil
}

// release gives back a cancelled order's reservation and closes it.
func (s *state) release(b *batch, post *postings, m *market, o *orders.Order, r engine.RestingOrder) {
	asset, amount := m.cat.Base, r.Remaining
	if r.Side == engine.Buy {
		asset, amount = m.cat.Quote, mustMul(r.Price, r.Remaining)
	}
	post.move(o.AccountID, asset, ledger.Held, ledger.Available, amount)
	b.events.touch(m.cat.Name, r.Side, r.Price)
	o.Status, o.UpdatedAt = orders.StatusCancelled, b.now
	delete(s.open, o.ID)
}

func (s *state) cancelAll(b *batch, c *CancelAll) (Result, error) {
	if c.Market != "" && s.markets[c.Market] == nil {
		return refuse(apierr.New(apierr.UnknownMarket, "unknown market %q", c.Market))
	}
	names := make([]string, 0, len(s.markets))
	for name := range s.markets {
		if c.Market == "" || c.Market == name {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var res Result
	var post postings
	for _, name := range names {
		m := s.markets[name]
		for _, r := range m.book.CancelOwner(c.AccountID, nil) {
			o := s.open[r.ID]
			if o == nil {
				return Result{}, fmt.Errorf("sequencer: book order %d has no record", r.ID)
			}
			s.release(b, &post, m, o, r)
			b.changed(o)
			res.Orders = append(res.Orders, *o)
		}
	}
	if err := b.post("cancel", "cancel all orders of account "+strconv.FormatInt(c.AccountID, 10), &post); err != nil {
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
	b.marketStatus[c.Market] = c.Status
	return Result{}, nil
}

func asClientError(err error) *apierr.Error {
	if e, ok := apierr.As(err); ok {
		return e
	}
	return apierr.New(apierr.InvalidOrder, "%v", err)
}
