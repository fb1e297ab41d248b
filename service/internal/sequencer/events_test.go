package sequencer

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// batchEvents is a large batch's events with every kind of member set.
func batchEvents() Events {
	now := time.Now().UTC()
	ev := Events{Time: now}
	price, qty, quote := money.MustParse("30000.01"), money.MustParse("0.005"), money.MustParse("150.00005")
	client := "bot-7.a:b"
	for i := range 400 {
		o := orders.JSON{ID: "12345", Market: "BTC-USDT", Side: engine.Side(1 + i%2), Type: engine.Limit, TimeInForce: engine.GTC,
			Price: &price, Quantity: &qty, FilledQuantity: qty, FilledQuote: quote, AveragePrice: &price, Fee: qty, FeeAsset: "BTC",
			Status: orders.StatusFilled, CreatedAt: now, UpdatedAt: now}
		if i%5 == 0 {
			o.ClientOrderID, o.Status, o.CancelReason, o.PostOnly = &client, orders.StatusCancelled, orders.CancelSelfTrade, true
		}
		if i%7 == 0 {
			o.Type, o.TimeInForce, o.Price, o.Quantity, o.QuoteQuantity = engine.Market, engine.IOC, nil, nil, &quote
		}
		ev.Orders = append(ev.Orders, OrderEvent{UserID: int64(i), Order: o})
		if i%3 == 0 {
			ev.Trades = append(ev.Trades, TradeEvent{ID: int64(i), Market: "BTC-USDT", Price: price, Quantity: qty, TakerSide: "buy",
				MakerOrderID: 1, TakerOrderID: 2, MakerUserID: 3, TakerUserID: 4, Time: now})
		}
		ev.Accounts = append(ev.Accounts, int64(i))
	}
	ev.Books = []BookDelta{{Market: "BTC-USDT", Sequence: 7, Bids: [][2]money.Amount{{price, qty}, {price - 1, 0}}, Asks: [][2]money.Amount{}}}
	entry := int64(9)
	ev.Transfers = []TransferEvent{
		{AccountID: 5, Deposit: &transfers.Deposit{ID: 1, UserID: 2, AccountID: 5, Asset: "USDT", Amount: quote, Status: transfers.DepositCredited, EntryID: &entry, CreatedAt: now, UpdatedAt: now}},
		{AccountID: 6, Withdrawal: &transfers.Withdrawal{ID: 3, UserID: 4, AccountID: 6, Asset: "BTC", Amount: qty, Address: "bc1qxyz", Status: transfers.WithdrawalPending, HoldEntryID: entry, CreatedAt: now, UpdatedAt: now}},
	}
	return ev
}

// The replicas decode the events with go-json-experiment; what they get
// must be exactly what encoding/json would have given them.
func TestEventsDecodeAsEncodingJSON(t *testing.T) {
	ev := batchEvents()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var v1, v2 Events
	if err := json.Unmarshal(data, &v1); err != nil {
		t.Fatal(err)
	}
	if err := jsonv2.Unmarshal(data, &v2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v1, v2) {
		t.Fatalf("the decoders disagree:\n%+v\n%+v", v1, v2)
	}
	var r Reassembler
	chunks, err := ev.chunks("t.1")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range chunks {
		got, done, err := r.Add(c)
		if err != nil || done != (i == len(chunks)-1) {
			t.Fatalf("chunk %d of %d: done %v, %v", i, len(chunks), done, err)
		}
		if done {
			again, _ := json.Marshal(got)
			if string(again) != string(data) {
				t.Fatal("events reassembled and encoded again differ from the original")
			}
		}
	}
}

// BenchmarkDecodeEvents compares the two decoders on a batch of 400
// orders, as every replica decodes every batch.
func BenchmarkDecodeEvents(b *testing.B) {
	data, err := json.Marshal(batchEvents())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var ev Events
			if err := json.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-json-experiment", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var ev Events
			if err := jsonv2.Unmarshal(data, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The leader writes each batch's events by hand; they must be the bytes
// encoding/json would have written.
func TestEventsJSONAsEncodingJSON(t *testing.T) {
	full := batchEvents()
	nilLevels := Events{Time: full.Time, Books: []BookDelta{{Market: "ETH-USDT", Sequence: 1}}}
	for name, ev := range map[string]Events{"full": full, "empty": {Time: full.Time}, "nil levels": nilLevels} {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\nhand-written %s\nencoding/json %s", name, got, want)
		}
	}
}
