package sequencer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// market is one market's rules and book.
type market struct {
	cat         catalog.Market
	base, quote catalog.Asset
	book        *engine.Book
	// sequence numbers the book's changes; it survives failover in
	// markets.book_sequence.
	sequence int64
}

// state is everything the leader holds in memory. It is rebuilt from the
// database whenever leadership starts or a batch fails to commit.
type state struct {
	markets map[string]*market
	// open holds every resting order's full record, for updates and cancels.
	open        map[int64]*orders.Order
	nextOrderID int64
	nextTradeID int64
}

// load rebuilds the state from the database: markets, then every open
// order back on its book in id order, which is arrival order, so time
// priority survives a restart.
func load(ctx context.Context, conn *pgx.Conn) (*state, error) {
	st := &state{markets: map[string]*market{}, open: map[int64]*orders.Order{}}
	assets := map[string]catalog.Asset{}
	rows, err := conn.Query(ctx, "SELECT symbol, name, precision FROM assets")
	if err != nil {
		return nil, fmt.Errorf("load assets: %w", err)
	}
	for rows.Next() {
		var a catalog.Asset
		if err := rows.Scan(&a.Symbol, &a.Name, &a.Precision); err != nil {
			return nil, fmt.Errorf("load assets: %w", err)
		}
		assets[a.Symbol] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load assets: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT name, base, quote, tick_size::text, lot_size::text, min_notional::text,
		maker_fee_bps, taker_fee_bps, status, book_sequence FROM markets`)
	if err != nil {
		return nil, fmt.Errorf("load markets: %w", err)
	}
	for rows.Next() {
		var m catalog.Market
		var tick, lot, minNotional string
		var sequence int64
		if err := rows.Scan(&m.Name, &m.Base, &m.Quote, &tick, &lot, &minNotional, &m.MakerFeeBps, &m.TakerFeeBps, &m.Status, &sequence); err != nil {
			return nil, fmt.Errorf("load markets: %w", err)
		}
		if err := scanAmounts([]string{tick, lot, minNotional}, &m.TickSize, &m.LotSize, &m.MinNotional); err != nil {
			return nil, fmt.Errorf("market %s: %w", m.Name, err)
		}
		base, quote := assets[m.Base], assets[m.Quote]
		st.markets[m.Name] = &market{cat: m, base: base, quote: quote, book: engine.NewBook(orders.Rules(m, base, quote)), sequence: sequence}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load markets: %w", err)
	}

	rows, err = conn.Query(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE status IN ('open', 'partially_filled') ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load open orders: %w", err)
	}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("load open orders: %w", err)
		}
		m, ok := st.markets[o.Market]
		if !ok {
			return nil, fmt.Errorf("open order %d is in unknown market %s", o.ID, o.Market)
		}
		side := engine.Buy
		if o.Side == "sell" {
			side = engine.Sell
		}
		if err := m.book.Restore(engine.RestingOrder{ID: o.ID, Owner: o.AccountID, Side: side, Price: *o.Price, Remaining: *o.Quantity - o.FilledQuantity}); err != nil {
			return nil, err
		}
		st.open[o.ID] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load open orders: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM orders").Scan(&st.nextOrderID); err != nil {
		return nil, fmt.Errorf("next order id: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM trades").Scan(&st.nextTradeID); err != nil {
		return nil, fmt.Errorf("next trade id: %w", err)
	}
	return st, nil
}

// orderColumns are read as text where they are NUMERIC: pgx's text form is
// exact, and money.Parse turns it into an Amount without floats.
const orderColumns = `id, user_id, account_id, market, client_order_id, side, type, time_in_force, post_only,
	price::text, quantity::text, quote_quantity::text, filled_quantity::text, filled_quote::text, fee::text,
	status, created_at, updated_at`

func scanOrder(row pgx.Row) (*orders.Order, error) {
	var o orders.Order
	var price, qty, quoteQty *string
	var filled, filledQuote, fee string
	if err := row.Scan(&o.ID, &o.UserID, &o.AccountID, &o.Market, &o.ClientOrderID, &o.Side, &o.Type, &o.TimeInForce, &o.PostOnly,
		&price, &qty, &quoteQty, &filled, &filledQuote, &fee, &o.Status, &o.CreatedAt, &o.UpdatedAt); err != nil {
		return nil, err
	}
	var err error
	if o.Price, err = optionalAmount(price); err != nil {
		return nil, err
	}
	if o.Quantity, err = optionalAmount(qty); err != nil {
		return nil, err
	}
	if o.QuoteQuantity, err = optionalAmount(quoteQty); err != nil {
		return nil, err
	}
	if err := scanAmounts([]string{filled, filledQuote, fee}, &o.FilledQuantity, &o.FilledQuote, &o.Fee); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return &o, nil
}

func optionalAmount(s *string) (*money.Amount, error) {
	if s == nil {
		return nil, nil
	}
	a, err := money.Parse(*s)
	if err != nil {
		return nil, fmt.Errorf("amount %q: %w", *s, err)
	}
	return &a, nil
}

func scanAmounts(texts []string, dst ...*money.Amount) error {
	for i, t := range texts {
		a, err := money.Parse(t)
		if err != nil {
			return fmt.Errorf("amount %q: %w", t, err)
		}
		*dst[i] = a
	}
	return nil
}

// timestamp is the batch's clock reading, truncated to what Postgres stores
// so that what we answer equals what a later read returns.
func timestamp(now func() time.Time) time.Time {
	return now().UTC().Truncate(time.Microsecond)
}
