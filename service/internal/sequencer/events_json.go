package sequencer

import (
	"encoding/json"
	"fmt"

	"github.com/crypto-exchange/exchange/service/internal/jsonappend"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// appendJSON appends the events as encoding/json writes them
// (TestEventsJSONAsEncodingJSON): the leader encodes every batch for the
// other replicas, and reflection over its orders and trades was most of
// that cost. Transfers are rare and go through encoding/json.
func (ev *Events) appendJSON(b []byte) ([]byte, error) {
	b = jsonappend.Time(jsonappend.Key(append(b, '{'), "time", true), ev.Time)
	if len(ev.Books) > 0 {
		b = jsonappend.Array(jsonappend.Key(b, "books", false), len(ev.Books), func(b []byte, i int) []byte {
			d := &ev.Books[i]
			b = jsonappend.String(jsonappend.Key(append(b, '{'), "market", true), d.Market)
			b = jsonappend.Int(jsonappend.Key(b, "sequence", false), d.Sequence)
			b = appendLevels(jsonappend.Key(b, "bids", false), d.Bids)
			return append(appendLevels(jsonappend.Key(b, "asks", false), d.Asks), '}')
		})
	}
	if len(ev.Trades) > 0 {
		b = jsonappend.Array(jsonappend.Key(b, "trades", false), len(ev.Trades), func(b []byte, i int) []byte {
			t := &ev.Trades[i]
			b = jsonappend.Int(jsonappend.Key(append(b, '{'), "id", true), t.ID)
			b = jsonappend.String(jsonappend.Key(b, "market", false), t.Market)
			b = t.Price.AppendJSON(jsonappend.Key(b, "price", false))
			b = t.Quantity.AppendJSON(jsonappend.Key(b, "quantity", false))
			b = jsonappend.String(jsonappend.Key(b, "taker_side", false), t.TakerSide)
			b = jsonappend.Int(jsonappend.Key(b, "maker_order_id", false), t.MakerOrderID)
			b = jsonappend.Int(jsonappend.Key(b, "taker_order_id", false), t.TakerOrderID)
			b = jsonappend.Int(jsonappend.Key(b, "maker_user_id", false), t.MakerUserID)
			b = jsonappend.Int(jsonappend.Key(b, "taker_user_id", false), t.TakerUserID)
			return append(jsonappend.Time(jsonappend.Key(b, "time", false), t.Time), '}')
		})
	}
	if len(ev.Orders) > 0 {
		b = jsonappend.Array(jsonappend.Key(b, "orders", false), len(ev.Orders), func(b []byte, i int) []byte {
			o := &ev.Orders[i]
			b = jsonappend.Int(jsonappend.Key(append(b, '{'), "user_id", true), o.UserID)
			return append(o.Order.AppendJSON(jsonappend.Key(b, "order", false)), '}')
		})
	}
	if len(ev.Accounts) > 0 {
		b = jsonappend.Array(jsonappend.Key(b, "accounts", false), len(ev.Accounts), func(b []byte, i int) []byte {
			return jsonappend.Int(b, ev.Accounts[i])
		})
	}
	if len(ev.Transfers) > 0 {
		t, err := json.Marshal(ev.Transfers)
		if err != nil {
			return nil, fmt.Errorf("encode transfer events: %w", err)
		}
		b = append(jsonappend.Key(b, "transfers", false), t...)
	}
	return append(b, '}'), nil
}

// appendLevels appends price levels as [["price","quantity"],...]; nil is
// null, as encoding/json has it.
func appendLevels(b []byte, levels [][2]money.Amount) []byte {
	if levels == nil {
		return append(b, "null"...)
	}
	return jsonappend.Array(b, len(levels), func(b []byte, i int) []byte {
		b = levels[i][0].AppendJSON(append(b, '['))
		return append(levels[i][1].AppendJSON(append(b, ',')), ']')
	})
}
