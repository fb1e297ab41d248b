package sequencer

import (
	"time"

	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// Events is what one committed batch changed. The leader hands it to its
// observer after the commit, for market data and users' private streams.
type Events struct {
	Trades []TradeEvent
	// Orders are the orders the batch created or changed, in their final state.
	Orders []orders.Order
	// Markets are the markets whose books changed.
	Markets []string

	orderIndex map[int64]*orders.Order
	order      []int64
	markets    map[string]bool
}

// TradeEvent is one trade.
type TradeEvent struct {
	ID           int64
	Market       string
	Price        money.Amount
	Quantity     money.Amount
	TakerSide    string
	MakerOrderID int64
	TakerOrderID int64
	MakerUserID  int64
	TakerUserID  int64
	Time         time.Time
}

func (e *Events) trade(market string, t tradeRow, now time.Time) {
	e.Trades = append(e.Trades, TradeEvent{
		ID: t.id, Market: market, Price: t.Price, Quantity: t.Quantity, TakerSide: t.TakerSide.String(),
		MakerOrderID: t.MakerID, TakerOrderID: t.TakerID, MakerUserID: t.makerUserID, TakerUserID: t.takerUserID, Time: now,
	})
}

func (e *Events) orderChanged(o *orders.Order) {
	if e.orderIndex == nil {
		e.orderIndex, e.markets = map[int64]*orders.Order{}, map[string]bool{}
	}
	if _, seen := e.orderIndex[o.ID]; !seen {
		e.order = append(e.order, o.ID)
	}
	e.orderIndex[o.ID] = o
	if !e.markets[o.Market] {
		e.markets[o.Market] = true
		e.Markets = append(e.Markets, o.Market)
	}
}

// seal copies the changed orders' final states, in first-change order.
func (e *Events) seal() {
	for _, id := range e.order {
		e.Orders = append(e.Orders, *e.orderIndex[id])
	}
	e.orderIndex, e.order, e.markets = nil, nil, nil
}
