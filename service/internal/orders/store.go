package orders

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// Get returns one of the user's orders.
func Get(ctx context.Context, db *gorm.DB, userID, id int64) (Order, error) {
	var o Order
	err := db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return o, apierr.New(apierr.NotFound, "order %d not found", id)
	}
	if err != nil {
		return o, fmt.Errorf("get order %d: %w", id, err)
	}
	return o, nil
}

// ByClientID finds the user's order with a client_order_id, if any.
func ByClientID(ctx context.Context, db *gorm.DB, userID int64, clientID string) (Order, bool, error) {
	var o Order
	err := db.WithContext(ctx).Where("user_id = ? AND client_order_id = ?", userID, clientID).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("find order by client id: %w", err)
	}
	return o, true, nil
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
	q := db.WithContext(ctx).Where("user_id = ?", f.UserID)
	if f.Market != "" {
		q = q.Where("market = ?", f.Market)
	}
	if f.Open != nil {
		if *f.Open {
			q = q.Where("status IN ?", []string{StatusOpen, StatusPartiallyFilled})
		} else {
			q = q.Where("status NOT IN ?", []string{StatusOpen, StatusPartiallyFilled})
		}
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var out []Order
	if err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error; err != nil {
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
