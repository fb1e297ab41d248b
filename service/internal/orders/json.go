package orders

import (
	"github.com/crypto-exchange/exchange/service/internal/jsonappend"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// MarshalJSON writes the order as AppendJSON does.
func (j JSON) MarshalJSON() ([]byte, error) {
	if _, ok := statusNames[j.Status]; !ok {
		// As the Status's own MarshalText refuses it.
		return nil, j.Status.unnamed()
	}
	return j.AppendJSON(make([]byte, 0, 512)), nil
}

// AppendJSON appends the order as encoding/json writes the struct
// (TestOrderJSONAsEncodingJSON), without its reflection: every answer to
// an order and every batch's events encode orders.
func (j *JSON) AppendJSON(b []byte) []byte {
	b = jsonappend.Key(append(b, '{'), "id", true)
	b = jsonappend.String(b, j.ID)
	b = jsonappend.Key(b, "client_order_id", false)
	if j.ClientOrderID == nil {
		b = append(b, "null"...)
	} else {
		b = jsonappend.String(b, *j.ClientOrderID)
	}
	b = jsonappend.String(jsonappend.Key(b, "market", false), j.Market)
	b = jsonappend.String(jsonappend.Key(b, "side", false), j.Side.String())
	b = jsonappend.String(jsonappend.Key(b, "type", false), j.Type.String())
	b = jsonappend.String(jsonappend.Key(b, "time_in_force", false), j.TimeInForce.String())
	b = jsonappend.Bool(jsonappend.Key(b, "post_only", false), j.PostOnly)
	b = appendAmount(jsonappend.Key(b, "price", false), j.Price)
	b = appendAmount(jsonappend.Key(b, "quantity", false), j.Quantity)
	if j.QuoteQuantity != nil {
		b = j.QuoteQuantity.AppendJSON(jsonappend.Key(b, "quote_quantity", false))
	}
	b = j.FilledQuantity.AppendJSON(jsonappend.Key(b, "filled_quantity", false))
	b = j.FilledQuote.AppendJSON(jsonappend.Key(b, "filled_quote", false))
	b = appendAmount(jsonappend.Key(b, "average_price", false), j.AveragePrice)
	b = j.Fee.AppendJSON(jsonappend.Key(b, "fee", false))
	b = jsonappend.String(jsonappend.Key(b, "fee_asset", false), j.FeeAsset)
	b = jsonappend.String(jsonappend.Key(b, "status", false), j.Status.String())
	if j.CancelReason != CancelNone {
		b = jsonappend.String(jsonappend.Key(b, "cancel_reason", false), j.CancelReason.String())
	}
	b = jsonappend.Time(jsonappend.Key(b, "created_at", false), j.CreatedAt)
	b = jsonappend.Time(jsonappend.Key(b, "updated_at", false), j.UpdatedAt)
	return append(b, '}')
}

func appendAmount(b []byte, a *money.Amount) []byte {
	if a == nil {
		return append(b, "null"...)
	}
	return a.AppendJSON(b)
}
