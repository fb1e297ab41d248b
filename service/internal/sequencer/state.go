package sequencer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/risk"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// clientIDWindow is how long a client_order_id is remembered in memory
// once its order closed. The trading service looks an id up in the
// database before it submits; the window covers the retries that race
// their original past that look-up, which are seconds apart at most.
const clientIDWindow = 10 * time.Minute

// market is one market's rules and book.
type market struct {
	cat         catalog.Market
	base, quote catalog.Asset
	book        *engine.Book
	// sequence numbers the book's changes; it survives failover in
	// markets.book_sequence.
	sequence int64
}

type clientKey struct {
	user int64
	id   string
}

// state is everything the leader holds in memory. It is rebuilt from the
// database whenever leadership starts or a batch fails to commit.
type state struct {
	assets   map[string]catalog.Asset
	markets  map[string]*market
	balances *risk.Balances
	// open holds every resting order's full record, for updates and cancels.
	open map[int64]*orders.Order
	// clientIDs finds orders by client_order_id: every open one, and the
	// closed ones of the last clientIDWindow.
	clientIDs map[clientKey]*orders.Order
	// closed remembers how recent orders ended, for cancels that come late.
	closed  *closedOrders
	pending transfers.Pending
	// withdrawn counts the day's withdrawals per user and asset, for the
	// daily limit; day is the UTC day it counts.
	withdrawn map[transfers.DayKey]money.Amount
	day       time.Time

	nextOrderID, nextTradeID int64
	// lastEntry is the journal's position: the last entry posted.
	lastEntry int64
}

// load rebuilds the state from the database: the listing, every balance,
// every pending transfer, the day's withdrawals, and every open order back
// on its book in id order, which is arrival order, so time priority
// survives a restart.
func load(ctx context.Context, conn *pgx.Conn, now time.Time) (*state, error) {
	st := &state{markets: map[string]*market{}, balances: risk.NewBalances(), open: map[int64]*orders.Order{},
		clientIDs: map[clientKey]*orders.Order{}, closed: newClosedOrders()}
	listed, err := catalog.Load(ctx, conn)
	if err != nil {
		return nil, err
	}
	st.assets = listed.Assets
	for _, m := range listed.Markets {
		base, quote := listed.Assets[m.Base], listed.Assets[m.Quote]
		st.markets[m.Name] = &market{cat: m, base: base, quote: quote, book: engine.NewBook(orders.Rules(m, base, quote)), sequence: listed.Sequences[m.Name]}
	}
	if err := ledger.LoadBalances(ctx, conn, st.balances.Load); err != nil {
		return nil, err
	}
	err = orders.LoadOpen(ctx, conn, func(o *orders.Order) error {
		m, ok := st.markets[o.Market]
		if !ok {
			return fmt.Errorf("open order %d is in unknown market %s", o.ID, o.Market)
		}
		if err := m.book.Restore(engine.RestingOrder{ID: o.ID, Owner: o.AccountID, Side: o.Side, Price: *o.Price, Remaining: *o.Quantity - o.FilledQuantity}); err != nil {
			return err
		}
		st.open[o.ID] = o
		st.remember(o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = orders.LoadClientIDs(ctx, conn, now.Add(-clientIDWindow), func(o *orders.Order) error {
		st.remember(o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if st.nextOrderID, st.nextTradeID, err = orders.NextIDs(ctx, conn); err != nil {
		return nil, err
	}
	if st.lastEntry, err = ledger.LastEntryID(ctx, conn); err != nil {
		return nil, err
	}
	if st.pending, err = transfers.LoadPending(ctx, conn); err != nil {
		return nil, err
	}
	st.day = now.UTC().Truncate(24 * time.Hour)
	if st.withdrawn, err = transfers.LoadWithdrawnSince(ctx, conn, st.day); err != nil {
		return nil, err
	}
	return st, nil
}

// remember makes an order findable by its client_order_id.
func (s *state) remember(o *orders.Order) {
	if o.ClientOrderID != nil {
		s.clientIDs[clientKey{o.UserID, *o.ClientOrderID}] = o
	}
}

// forget drops the closed orders' client ids older than the window.
func (s *state) forget(now time.Time) {
	cutoff := now.Add(-clientIDWindow)
	for k, o := range s.clientIDs {
		if !o.Open() && o.CreatedAt.Before(cutoff) {
			delete(s.clientIDs, k)
		}
	}
}

// withdrawnToday is the day's withdrawn amount; a new UTC day starts the
// count afresh.
func (s *state) withdrawnToday(now time.Time, k transfers.DayKey) money.Amount {
	if day := now.UTC().Truncate(24 * time.Hour); day.After(s.day) {
		s.day = day
		clear(s.withdrawn)
	}
	return s.withdrawn[k]
}

// timestamp is the batch's clock reading, truncated to what Postgres stores
// so that what we answer equals what a later read returns.
func timestamp(now func() time.Time) time.Time {
	return now().UTC().Truncate(time.Microsecond)
}
