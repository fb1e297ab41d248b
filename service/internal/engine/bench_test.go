package engine_test

import (
	"reflect"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// BenchmarkPlaceCancel is the resting-order path: each op places a limit
// order that does not cross (one of 200 price levels per side), or cancels
// the order placed 1,000 ops earlier, keeping a book of ~1,000 orders.
func BenchmarkPlaceCancel(b *testing.B) {
	book := engine.NewBook(testRules)
	var ev engine.Events
	const window = 1000
	mid := money.MustParse("100")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := int64(i/2 + 1)
		if i%2 == 1 && id > window {
			book.Cancel(id - window)
			continue
		}
		o := engine.Order{ID: id, Owner: id % 50, Kind: engine.Limit, TIF: engine.GTC, Quantity: money.MustParse("0.01")}
		if id%2 == 0 {
			o.Side, o.Price = engine.Buy, mid-money.Amount(1+id%200)*testRules.TickSize
		} else {
			o.Side, o.Price = engine.Sell, mid+money.Amount(1+id%200)*testRules.TickSize
		}
		ev.Reset()
		book.Place(o, &ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkMatch is the taking path: each op is a limit order that fully
// trades against one resting order, which the next op replaces.
func BenchmarkMatch(b *testing.B) {
	book := engine.NewBook(testRules)
	var ev engine.Events
	price := money.MustParse("100")
	qty := money.MustParse("0.01")
	for i := int64(1); i <= 1000; i++ {
		book.Place(engine.Order{ID: i, Owner: 1, Side: engine.Sell, Kind: engine.Limit, TIF: engine.GTC, Price: price + money.Amount(i%10)*testRules.TickSize, Quantity: qty}, &ev)
	}
	b.ReportAllocs()
	b.ResetTimer()
	id := int64(1001)
	for i := 0; i < b.N; i++ {
		ev.Reset()
		book.Place(engine.Order{ID: id, Owner: 2, Side: engine.Buy, Kind: engine.Limit, TIF: engine.IOC, Price: price + 10*testRules.TickSize, Quantity: qty}, &ev)
		id++
		book.Place(engine.Order{ID: id, Owner: 1, Side: engine.Sell, Kind: engine.Limit, TIF: engine.GTC, Price: price + money.Amount(id%10)*testRules.TickSize, Quantity: qty}, &ev)
		id++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "matches/s")
}

// BenchmarkSweep is a market order that takes 20 levels at once.
func BenchmarkSweep(b *testing.B) {
	book := engine.NewBook(testRules)
	var ev engine.Events
	qty := money.MustParse("0.01")
	id := int64(1)
	refill := func() {
		for l := 0; l < 20; l++ {
			book.Place(engine.Order{ID: id, Owner: 1, Side: engine.Sell, Kind: engine.Limit, TIF: engine.GTC, Price: money.MustParse("100") + money.Amount(l)*testRules.TickSize, Quantity: qty}, &ev)
			id++
		}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		refill()
		ev.Reset()
		b.StartTimer()
		book.Place(engine.Order{ID: id, Owner: 2, Side: engine.Buy, Kind: engine.Market, TIF: engine.IOC, Quantity: 20 * qty}, &ev)
		id++
	}
}

// FuzzCommandStream drives the engine and the reference model with a
// command stream decoded from the fuzzer's bytes; they must agree.
func FuzzCommandStream(f *testing.F) {
	f.Add([]byte{0, 10, 3, 5, 1, 1, 12, 3, 5, 2, 7, 1})
	f.Add([]byte{2, 1, 0, 3, 3, 3, 1, 2, 250, 0, 9, 9, 9, 4, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		book := engine.NewBook(testRules)
		ref := &refBook{rules: testRules}
		var ev, rev engine.Events
		nextID := int64(1)
		for len(data) >= 4 {
			op, a, b2, c := data[0], data[1], data[2], data[3]
			data = data[4:]
			ev.Reset()
			rev.Reset()
			switch op % 8 {
			case 0:
				id := 1 + int64(a)%nextID
				o1, ok1 := book.Cancel(id)
				o2, ok2 := ref.cancel(id)
				if ok1 != ok2 || o1 != o2 {
					t.Fatalf("cancel %d: %+v %v vs %+v %v", id, o1, ok1, o2, ok2)
				}
				continue
			case 1:
				book.CancelOwner(int64(a%4), nil)
				ref.cancelOwner(int64(a % 4))
			default:
				o := engine.Order{ID: nextID, Owner: int64(a % 4), Side: engine.Side(1 + b2%2), Quantity: money.Amount(1+c%40) * testRules.LotSize}
				nextID++
				switch op % 8 {
				case 2:
					o.Kind, o.TIF = engine.Market, engine.TimeInForce(2+b2%2)
				case 3:
					o.Kind, o.TIF, o.Quantity, o.QuoteQuantity, o.Side = engine.Market, engine.IOC, 0, money.Amount(c)*money.MustParse("0.5"), engine.Buy
				default:
					o.Kind, o.TIF = engine.Limit, engine.TimeInForce(1+(op/8)%3)
					o.Price = money.MustParse("100") + (money.Amount(b2%16)-8)*testRules.TickSize
					o.PostOnly = op >= 128 && o.TIF == engine.GTC
				}
				f1, r1 := book.Place(o, &ev)
				f2, r2 := ref.place(o, &rev)
				if r1 != r2 || f1 != f2 || !reflect.DeepEqual(ev.Trades, rev.Trades) || !reflect.DeepEqual(ev.Makers, rev.Makers) {
					t.Fatalf("place %+v:\nengine %+v %v %+v %+v\nref    %+v %v %+v %+v", o, f1, r1, ev.Trades, ev.Makers, f2, r2, rev.Trades, rev.Makers)
				}
			}
			if got, want := book.Orders(), ref.canonical(); !reflect.DeepEqual(got, want) {
				t.Fatalf("books differ:\nengine %+v\nref    %+v", got, want)
			}
		}
	})
}
