package orders

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// columns are read as text where they are NUMERIC or named: the text form
// is exact, money.Parse turns it into an Amount without floats, and the
// vocabulary's names become typed values in one place, scan.
const columns = `id, user_id, account_id, market, client_order_id, side, type, time_in_force, post_only,
	price::text, quantity::text, quote_quantity::text, filled_quantity::text, filled_quote::text, fee::text,
	status, coalesce(cancel_reason, ''), created_at, updated_at`

// row is what both database/sql and pgx rows can do.
type row interface{ Scan(dest ...any) error }

func scan(r row) (*Order, error) {
	var o Order
	var side, kind, tif, status, reason string
	var price, qty, quoteQty *string
	var filled, filledQuote, fee string
	if err := r.Scan(&o.ID, &o.UserID, &o.AccountID, &o.Market, &o.ClientOrderID, &side, &kind, &tif, &o.PostOnly,
		&price, &qty, &quoteQty, &filled, &filledQuote, &fee, &status, &reason, &o.CreatedAt, &o.UpdatedAt); err != nil {
		return nil, err
	}
	err := errors.Join(o.Side.UnmarshalText([]byte(side)), o.Type.UnmarshalText([]byte(kind)), o.TimeInForce.UnmarshalText([]byte(tif)),
		o.Status.UnmarshalText([]byte(status)), o.CancelReason.UnmarshalText([]byte(reason)))
	if err != nil {
		return nil, fmt.Errorf("order %d: %w", o.ID, err)
	}
	if o.Price, err = optionalAmount(price); err != nil {
		return nil, err
	}
	if o.Quantity, err = optionalAmount(qty); err != nil {
		return nil, err
	}
	if o.QuoteQuantity, err = optionalAmount(quoteQty); err != nil {
		return nil, err
	}
	for _, a := range []struct {
		text string
		dst  *money.Amount
	}{{filled, &o.FilledQuantity}, {filledQuote, &o.FilledQuote}, {fee, &o.Fee}} {
		if *a.dst, err = money.Parse(a.text); err != nil {
			return nil, fmt.Errorf("order %d: amount %q: %w", o.ID, a.text, err)
		}
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

func query(ctx context.Context, db *gorm.DB, q string, args ...any) ([]Order, error) {
	rows, err := db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, rows.Err()
}

// Get returns one of the user's orders.
func Get(ctx context.Context, db *gorm.DB, userID, id int64) (Order, error) {
	list, err := query(ctx, db, "SELECT "+columns+" FROM orders WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return Order{}, fmt.Errorf("get order %d: %w", id, err)
	}
	if len(list) == 0 {
		return Order{}, apierr.New(apierr.NotFound, "order %d not found", id)
	}
	return list[0], nil
}

// ByClientID finds the user's order with a client_order_id, if any.
func ByClientID(ctx context.Context, db *gorm.DB, userID int64, clientID string) (Order, bool, error) {
	list, err := query(ctx, db, "SELECT "+columns+" FROM orders WHERE user_id = ? AND client_order_id = ?", userID, clientID)
	if err != nil {
		return Order{}, false, fmt.Errorf("find order by client id: %w", err)
	}
	if len(list) == 0 {
		return Order{}, false, nil
	}
	return list[0], true, nil
}

// ByClientIDs finds the user's orders among clientIDs, by client id, in one
// query: a batch of orders asks for all of its ids at once. Ids that are
// not valid client ids cannot match and are not asked for.
func ByClientIDs(ctx context.Context, db *gorm.DB, userID int64, clientIDs []string) (map[string]Order, error) {
	var valid []string
	for _, id := range clientIDs {
		if clientOrderIDPattern.MatchString(id) {
			valid = append(valid, id)
		}
	}
	out := map[string]Order{}
	if len(valid) == 0 {
		return out, nil
	}
	list, err := query(ctx, db, "SELECT "+columns+" FROM orders WHERE user_id = ? AND client_order_id IN ?", userID, valid)
	if err != nil {
		return nil, fmt.Errorf("find orders by client id: %w", err)
	}
	for _, o := range list {
		out[*o.ClientOrderID] = o
	}
	return out, nil
}

// Filter selects a user's orders.
type Filter struct {
	UserID int64
	Market string // empty: all
	// Open: true only open orders, false only closed, nil both.
	Open   *bool
	Before int64 // keyset cursor: ids below it
	Limit  int
}

// List returns a page of the user's orders, newest first.
func List(ctx context.Context, db *gorm.DB, f Filter) ([]Order, error) {
	q := "SELECT " + columns + " FROM orders WHERE user_id = @user AND (@market = '' OR market = @market) AND (@before = 0 OR id < @before)"
	if f.Open != nil {
		if *f.Open {
			q += " AND status IN ('open', 'partially_filled')"
		} else {
			q += " AND status NOT IN ('open', 'partially_filled')"
		}
	}
	q += " ORDER BY id DESC LIMIT @limit"
	out, err := query(ctx, db, q, sql.Named("user", f.UserID), sql.Named("market", f.Market), sql.Named("before", f.Before), sql.Named("limit", f.Limit))
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return out, nil
}

// Fill is one of a user's trades, from that user's point of view.
type Fill struct {
	TradeID   int64        `json:"-"`
	ID        string       `json:"trade_id"`
	OrderID   string       `json:"order_id"`
	Market    string       `json:"market"`
	Side      string       `json:"side"`
	Role      string       `json:"role"`
	Price     money.Amount `json:"price"`
	Quantity  money.Amount `json:"quantity"`
	Quote     money.Amount `json:"quote_quantity"`
	Fee       money.Amount `json:"fee"`
	FeeAsset  string       `json:"fee_asset"`
	CreatedAt time.Time    `json:"created_at"`
}

// Fills returns a page of the user's trades, newest first. A trade between
// two orders of one user cannot happen (self-trade prevention), so each
// trade is the user's as maker or as taker, never both.
func Fills(ctx context.Context, db *gorm.DB, userID int64, market string, before int64, limit int) ([]Fill, error) {
	var rows []struct {
		ID        int64
		OrderID   int64
		Market    string
		Side      string
		Role      string
		Price     money.Amount
		Quantity  money.Amount
		Quote     money.Amount
		Fee       money.Amount
		FeeAsset  string
		CreatedAt time.Time
	}
	err := db.WithContext(ctx).Raw(`
		SELECT t.id, t.market, t.price, t.quantity, t.quote_quantity AS quote, t.created_at,
		       CASE WHEN t.maker_user_id = @user THEN 'maker' ELSE 'taker' END AS role,
		       CASE WHEN t.maker_user_id = @user THEN t.maker_order_id ELSE t.taker_order_id END AS order_id,
		       CASE WHEN t.maker_user_id = @user THEN t.maker_fee ELSE t.taker_fee END AS fee,
		       CASE WHEN (t.maker_user_id = @user) = (t.taker_side = 'sell') THEN 'buy' ELSE 'sell' END AS side,
		       CASE WHEN (t.maker_user_id = @user) = (t.taker_side = 'sell') THEN m.base ELSE m.quote END AS fee_asset
		FROM trades t JOIN markets m ON m.name = t.market
		WHERE (t.maker_user_id = @user OR t.taker_user_id = @user)
		  AND (@market = '' OR t.market = @market)
		  AND (@before = 0 OR t.id < @before)
		ORDER BY t.id DESC LIMIT @limit`,
		map[string]any{"user": userID, "market": market, "before": before, "limit": limit}).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list fills: %w", err)
	}
	out := make([]Fill, len(rows))
	for i, r := range rows {
		out[i] = Fill{TradeID: r.ID, ID: formatID(r.ID), OrderID: formatID(r.OrderID), Market: r.Market, Side: r.Side, Role: r.Role,
			Price: r.Price, Quantity: r.Quantity, Quote: r.Quote, Fee: r.Fee, FeeAsset: r.FeeAsset, CreatedAt: r.CreatedAt}
	}
	return out, nil
}
