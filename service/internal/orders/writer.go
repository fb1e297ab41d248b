package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Trade is one trade as stored.
type Trade struct {
	engine.Trade
	ID          int64
	Market      string
	MakerUserID int64
	TakerUserID int64
}

// Changes are what one sequencer batch did to orders and trades. The
// sequencer records them as commands apply; Queue writes them.
type Changes struct {
	New     []*Order
	Trades  []Trade
	changed map[int64]*Order
	isNew   map[int64]bool
}

// Placed records a new order.
func (c *Changes) Placed(o *Order) {
	if c.isNew == nil {
		c.isNew = map[int64]bool{}
	}
	c.New = append(c.New, o)
	c.isNew[o.ID] = true
}

// Changed records a change to an order; one placed in the same batch is
// written once, as it ends up.
func (c *Changes) Changed(o *Order) {
	if c.isNew[o.ID] {
		return
	}
	if c.changed == nil {
		c.changed = map[int64]*Order{}
	}
	c.changed[o.ID] = o
}

// Traded records a trade.
func (c *Changes) Traded(t Trade) { c.Trades = append(c.Trades, t) }

// Reset empties the changes for the next batch, keeping their storage.
func (c *Changes) Reset() {
	c.New, c.Trades = c.New[:0], c.Trades[:0]
	clear(c.changed)
	clear(c.isNew)
}

// Queue adds to q one multi-row statement per kind of change: amounts
// travel as text and are cast to NUMERIC by the server, exact both ways.
func (c *Changes) Queue(q *pgx.Batch, now time.Time) {
	if n := len(c.New); n > 0 {
		ids, users, accounts := make([]int64, n), make([]int64, n), make([]int64, n)
		markets, sides, types, tifs, statuses, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
		clientIDs, prices, qtys, quoteQtys := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		filled, filledQuote, fees := make([]string, n), make([]string, n), make([]string, n)
		postOnly := make([]bool, n)
		for i, o := range c.New {
			ids[i], users[i], accounts[i] = o.ID, o.UserID, o.AccountID
			markets[i], sides[i], types[i], tifs[i], statuses[i], reasons[i] = o.Market, o.Side.String(), o.Type.String(), o.TimeInForce.String(), o.Status.String(), reason(o)
			clientIDs[i], prices[i], qtys[i], quoteQtys[i] = o.ClientOrderID, text(o.Price), text(o.Quantity), text(o.QuoteQuantity)
			filled[i], filledQuote[i], fees[i] = o.FilledQuantity.String(), o.FilledQuote.String(), o.Fee.String()
			postOnly[i] = o.PostOnly
		}
		q.Queue(`INSERT INTO orders (id, user_id, account_id, market, client_order_id, side, type, time_in_force, post_only,
				price, quantity, quote_quantity, filled_quantity, filled_quote, fee, status, cancel_reason, created_at, updated_at)
			SELECT id, user_id, account_id, market, client_order_id, side, type, tif, post_only,
				price::numeric, qty::numeric, quote_qty::numeric, filled::numeric, filled_quote::numeric, fee::numeric, status, reason, $18, $18
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[],
				$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
				AS o(id, user_id, account_id, market, client_order_id, side, type, tif, post_only, price, qty, quote_qty, filled, filled_quote, fee, status, reason)`,
			ids, users, accounts, markets, clientIDs, sides, types, tifs, postOnly, prices, qtys, quoteQtys, filled, filledQuote, fees, statuses, reasons, now)
	}
	if n := len(c.changed); n > 0 {
		ids := make([]int64, 0, n)
		var filled, quote, fee, status []string
		var reasons []*string
		for id, o := range c.changed {
			ids = append(ids, id)
			filled, quote, fee = append(filled, o.FilledQuantity.String()), append(quote, o.FilledQuote.String()), append(fee, o.Fee.String())
			status, reasons = append(status, o.Status.String()), append(reasons, reason(o))
		}
		q.Queue(`UPDATE orders o SET filled_quantity = v.filled::numeric, filled_quote = v.quote::numeric, fee = v.fee::numeric,
				status = v.status, cancel_reason = v.reason, updated_at = $7
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS v(id, filled, quote, fee, status, reason)
			WHERE o.id = v.id`, ids, filled, quote, fee, status, reasons, now)
	}
	if n := len(c.Trades); n > 0 {
		ids, makers, takers, makerUsers, takerUsers := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		markets, sides := make([]string, n), make([]string, n)
		prices, qtys, quotes, makerFees, takerFees := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, t := range c.Trades {
			ids[i], makers[i], takers[i], makerUsers[i], takerUsers[i] = t.ID, t.MakerID, t.TakerID, t.MakerUserID, t.TakerUserID
			markets[i], sides[i] = t.Market, t.TakerSide.String()
			prices[i], qtys[i], quotes[i] = t.Price.String(), t.Quantity.String(), t.Quote.String()
			makerFees[i], takerFees[i] = t.MakerFee.String(), t.TakerFee.String()
		}
		q.Queue(`INSERT INTO trades (id, market, price, quantity, quote_quantity, taker_side, maker_order_id, taker_order_id,
				maker_user_id, taker_user_id, maker_fee, taker_fee, created_at)
			SELECT id, market, price::numeric, qty::numeric, quote::numeric, side, maker, taker, maker_user, taker_user,
				maker_fee::numeric, taker_fee::numeric, $13
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
				$9::bigint[], $10::bigint[], $11::text[], $12::text[])
				AS t(id, market, price, qty, quote, side, maker, taker, maker_user, taker_user, maker_fee, taker_fee)`,
			ids, markets, prices, qtys, quotes, sides, makers, takers, makerUsers, takerUsers, makerFees, takerFees, now)
	}
}

func reason(o *Order) *string {
	if o.CancelReason == CancelNone {
		return nil
	}
	s := o.CancelReason.String()
	return &s
}

func text(a *money.Amount) *string {
	if a == nil {
		return nil
	}
	s := a.String()
	return &s
}

// Conn is the sequencer's connection, as the loaders need it.
type Conn interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func each(ctx context.Context, conn Conn, q string, f func(*Order) error, args ...any) error {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scan(rows)
		if err != nil {
			return err
		}
		if err := f(o); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LoadOpen hands every resting order to f in id order, which is arrival
// order: a rebuilt book keeps time priority.
func LoadOpen(ctx context.Context, conn Conn, f func(*Order) error) error {
	if err := each(ctx, conn, "SELECT "+columns+" FROM orders WHERE status IN ('open', 'partially_filled') ORDER BY id", f); err != nil {
		return fmt.Errorf("load open orders: %w", err)
	}
	return nil
}

// LoadClientIDs hands f the closed orders with a client_order_id placed
// since: retries racing their original are answered from memory.
func LoadClientIDs(ctx context.Context, conn Conn, since time.Time, f func(*Order) error) error {
	err := each(ctx, conn, "SELECT "+columns+` FROM orders WHERE client_order_id IS NOT NULL AND created_at >= $1
		AND status NOT IN ('open', 'partially_filled') ORDER BY id`, f, since)
	if err != nil {
		return fmt.Errorf("load recent client order ids: %w", err)
	}
	return nil
}

// NextIDs are the ids the next order and the next trade get: the
// sequencer numbers them itself, so a batch is written in one go.
func NextIDs(ctx context.Context, conn Conn) (order, trade int64, err error) {
	err = conn.QueryRow(ctx, "SELECT (SELECT coalesce(max(id), 0) + 1 FROM orders), (SELECT coalesce(max(id), 0) + 1 FROM trades)").Scan(&order, &trade)
	if err != nil {
		return 0, 0, fmt.Errorf("next order and trade ids: %w", err)
	}
	return order, trade, nil
}
