package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/httperr"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
)

// A batch's answer is written by hand; it must be the bytes encoding/json
// wrote before.
func TestBatchAnswerAsEncodingJSON(t *testing.T) {
	price := money.MustParse("30000.5")
	o := orders.JSON{ID: "7", Market: "BTC-USDT", Side: engine.Sell, Type: engine.Limit, TimeInForce: engine.GTC, Price: &price,
		Quantity: &price, FeeAsset: "USDT", Status: orders.StatusOpen, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	for name, a := range map[string]batchAnswer{
		"none":  {},
		"empty": {Results: []batchItem{}},
		"mixed": {Results: []batchItem{
			{Status: 201, Order: &o},
			{Status: 400, Error: &httperr.Detail{Code: apierr.InsufficientFunds, Message: `needs "10" <USDT> & more`}},
			{Status: 200, Order: &o},
			{Status: 500},
		}},
	} {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.appendJSON(nil); string(got) != string(want) {
			t.Errorf("%s:\nhand-written  %s\nencoding/json %s", name, got, want)
		}
	}
}

// So must a socket command's result, in each of its shapes.
func TestSocketResultAsEncodingJSON(t *testing.T) {
	price := money.MustParse("0.1")
	o := orders.JSON{ID: "9", Market: "ETH-USDT", Side: engine.Buy, Type: engine.Market, TimeInForce: engine.IOC, QuoteQuantity: &price,
		FeeAsset: "ETH", Status: orders.StatusCancelled, CancelReason: orders.CancelIOCRemainder, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	on, none, some := true, []orders.JSON(nil), []orders.JSON{o, o}
	fail := &httperr.Detail{Code: apierr.InvalidRequest, Message: "slow down"}
	for name, r := range map[string]wsResult{
		"placed":        {Type: "result", Op: "place", ID: "a1", batchItem: batchItem{Status: 201, Order: &o}},
		"refused":       {Type: "result", Op: "place", batchItem: batchItem{Status: 429, Error: fail}},
		"no id":         {Type: "result", batchItem: batchItem{Status: 400, Error: fail}},
		"batch":         {Type: "result", Op: "place_batch", ID: "b", batchItem: batchItem{Status: 200}, Results: []batchItem{{Status: 201, Order: &o}, {Status: 400, Error: fail}}},
		"empty batch":   {Type: "result", Op: "place_batch", ID: "b", batchItem: batchItem{Status: 200}, Results: []batchItem{}},
		"cancel all":    {Type: "result", Op: "cancel_all", ID: "c", batchItem: batchItem{Status: 200}, Cancelled: &some},
		"nil list":      {Type: "result", Op: "cancel_all", ID: "c", batchItem: batchItem{Status: 200}, Cancelled: &none},
		"on disconnect": {Type: "result", Op: "cancel_on_disconnect", ID: "d", batchItem: batchItem{Status: 200}, CancelOnDisconnect: &on},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); string(got) != string(want) {
			t.Errorf("%s:\nhand-written  %s\nencoding/json %s", name, got, want)
		}
	}
}
