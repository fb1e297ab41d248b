package orders

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// reflected is JSON without its methods: encoding/json's own rendering.
type reflected JSON

// Every order encodes byte for byte as encoding/json's reflection would
// encode it: the API's answers do not change with the hand-written path.
func TestOrderJSONAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	strs := []string{"", "BTC-USDT", "bot-7.a:b", `q"uo\te`, "<&>", "é", "\x01"}
	amount := func() *money.Amount {
		if rng.IntN(4) == 0 {
			return nil
		}
		a := money.Amount(rng.Int64N(1<<50) - 1<<40)
		return &a
	}
	for i := range 5000 {
		j := JSON{
			ID: strs[rng.IntN(len(strs))], Market: strs[rng.IntN(len(strs))], FeeAsset: strs[rng.IntN(len(strs))],
			Side: engine.Side(1 + rng.IntN(2)), Type: engine.Kind(1 + rng.IntN(2)), TimeInForce: engine.TimeInForce(1 + rng.IntN(3)),
			PostOnly: rng.IntN(2) == 0, Price: amount(), Quantity: amount(), QuoteQuantity: amount(), AveragePrice: amount(),
			Status: Status(1 + rng.IntN(4)), CancelReason: CancelReason(rng.IntN(len(reasonNames) + 1)),
			CreatedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC(), UpdatedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)),
		}
		j.FilledQuantity, j.FilledQuote, j.Fee = money.Amount(rng.Int64N(1e12)), money.Amount(rng.Int64N(1e15)), money.Amount(rng.Int64N(1e6))
		if rng.IntN(2) == 0 {
			s := strs[rng.IntN(len(strs))]
			j.ClientOrderID = &s
		}
		want, err := json.Marshal(reflected(j))
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("order %d:\nhand-written %s\nreflection   %s", i, got, want)
		}
	}
	if _, err := json.Marshal(JSON{}); err == nil {
		t.Error("an order without a status encoded")
	}
}

func BenchmarkOrderJSON(b *testing.B) {
	price, qty := money.MustParse("30000.01"), money.MustParse("0.005")
	j := JSON{ID: "123456789", Market: "BTC-USDT", Side: engine.Buy, Type: engine.Limit, TimeInForce: engine.GTC, Price: &price,
		Quantity: &qty, FilledQuantity: qty, FilledQuote: price, AveragePrice: &price, Fee: qty, FeeAsset: "BTC",
		Status: StatusFilled, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	b.Run("reflection", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(reflected(j)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand-written", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = j.AppendJSON(buf[:0])
		}
	})
}
