package marketdata

import (
	"context"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// A range that starts or ends inside an interval still gets that
// interval's whole candle: a candle is labelled with its interval's open
// time, so it must cover all of it.
func TestCandlesCoverWholeIntervalsOfAnUnalignedRange(t *testing.T) {
	_, db := testFeed(t)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	insertTrade(t, db, 1, "BTC-USDT", "100", "1", at("2024-03-05T10:00:10Z"))
	insertTrade(t, db, 2, "BTC-USDT", "110", "2", at("2024-03-05T10:00:40Z"))
	insertTrade(t, db, 3, "BTC-USDT", "90", "1", at("2024-03-05T10:01:05Z"))
	insertTrade(t, db, 4, "BTC-USDT", "120", "4", at("2024-03-05T10:01:50Z"))
	insertTrade(t, db, 5, "BTC-USDT", "130", "8", at("2024-03-05T10:02:00Z"))

	got, err := Candles(context.Background(), db, "BTC-USDT", "1m", at("2024-03-05T10:00:30Z"), at("2024-03-05T10:01:30Z"))
	if err != nil {
		t.Fatal(err)
	}
	m := money.MustParse
	want := []Candle{
		{OpenTime: at("2024-03-05T10:00:00Z"), Open: m("100"), High: m("110"), Low: m("100"), Close: m("110"), Volume: m("3")},
		{OpenTime: at("2024-03-05T10:01:00Z"), Open: m("90"), High: m("120"), Low: m("90"), Close: m("120"), Volume: m("5")},
	}
	if len(got) != len(want) {
		t.Fatalf("candles = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].OpenTime.Equal(want[i].OpenTime) || got[i].Open != want[i].Open || got[i].High != want[i].High ||
			got[i].Low != want[i].Low || got[i].Close != want[i].Close || got[i].Volume != want[i].Volume {
			t.Fatalf("candle %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// Go's and the query's interval boundaries agree only for widths that
	// divide a day.
	for name, width := range Intervals {
		if 24*time.Hour%width != 0 {
			t.Errorf("interval %s does not divide a day", name)
		}
	}

	// The widened range still obeys the limit on candles per response.
	from := at("2024-03-05T10:00:30Z")
	if _, err := Candles(context.Background(), db, "BTC-USDT", "1m", from, from.Add(MaxCandles*time.Minute)); err == nil {
		t.Fatal("a range touching 1001 intervals was served")
	}
	if _, err := Candles(context.Background(), db, "BTC-USDT", "1m", from, from.Add((MaxCandles-1)*time.Minute)); err != nil {
		t.Fatalf("a range touching 1000 intervals: %v", err)
	}
}

func ticker(t *testing.T, f *Feed, market string) Ticker {
	t.Helper()
	tk, ok := f.Ticker(market)
	if !ok {
		t.Fatalf("no ticker for %s", market)
	}
	return tk
}

func wantTicker(t *testing.T, tk Ticker, last, open, high, low, volume, quoteVolume string) {
	t.Helper()
	str := func(a *money.Amount) string {
		if a == nil {
			return "null"
		}
		return a.String()
	}
	got := [6]string{str(tk.Last), str(tk.Open24h), str(tk.High24h), str(tk.Low24h), tk.Volume24h.String(), tk.QuoteVolume24h.String()}
	want := [6]string{last, open, high, low, volume, quoteVolume}
	if got != want {
		t.Fatalf("ticker %s (last, open, high, low, volume, quote volume) = %v, want %v", tk.Market, got, want)
	}
}

// A ticker reflects a trade the moment the feed applies it, not at the
// next refresh of the 24 h statistics.
func TestTickerReflectsATradeAtOnce(t *testing.T) {
	f, db := testFeed(t)
	ctx := context.Background()
	now := time.Now().UTC()
	insertTrade(t, db, 1, "BTC-USDT", "100", "1", now.Add(-time.Hour))
	if err := f.loadStats(ctx); err != nil {
		t.Fatal(err)
	}
	wantTicker(t, ticker(t, f, "BTC-USDT"), "null", "100", "100", "100", "1", "100")

	// Above the high, then below the low, in one batch.
	trades := []sequencer.TradeEvent{
		{ID: 2, Market: "BTC-USDT", Price: money.MustParse("130"), Quantity: money.MustParse("0.5"), TakerSide: "buy", Time: now},
		{ID: 3, Market: "BTC-USDT", Price: money.MustParse("80.5"), Quantity: money.MustParse("2"), TakerSide: "sell", Time: now},
	}
	if err := f.apply(sequencer.Events{Time: now, Trades: trades}); err != nil {
		t.Fatal(err)
	}
	wantTicker(t, ticker(t, f, "BTC-USDT"), "80.5", "100", "130", "80.5", "3.5", "326")

	// A market's first trade: open, high and low at once, not null.
	first := sequencer.TradeEvent{ID: 4, Market: "ETH-USDT", Price: money.MustParse("2000"), Quantity: money.MustParse("0.25"), TakerSide: "buy", Time: now}
	if err := f.apply(sequencer.Events{Time: now, Trades: []sequencer.TradeEvent{first}}); err != nil {
		t.Fatal(err)
	}
	wantTicker(t, ticker(t, f, "ETH-USDT"), "2000", "2000", "2000", "2000", "0.25", "500")

	// The refresh that reads those trades back counts each once, and a
	// trade it has already counted is not counted again when its event
	// arrives (again) afterwards.
	insertTrade(t, db, 2, "BTC-USDT", "130", "0.5", now)
	insertTrade(t, db, 3, "BTC-USDT", "80.5", "2", now)
	insertTrade(t, db, 4, "ETH-USDT", "2000", "0.25", now)
	if err := f.loadStats(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.apply(sequencer.Events{Time: now, Trades: []sequencer.TradeEvent{first}}); err != nil {
		t.Fatal(err)
	}
	wantTicker(t, ticker(t, f, "BTC-USDT"), "80.5", "100", "130", "80.5", "3.5", "326")
	wantTicker(t, ticker(t, f, "ETH-USDT"), "2000", "2000", "2000", "2000", "0.25", "500")
}

// A trade applied while a refresh's query runs, after its snapshot, is
// still counted once the refresh swaps its figures in.
func TestTickerKeepsATradeAppliedDuringARefresh(t *testing.T) {
	f, db := testFeed(t)
	ctx := context.Background()
	now := time.Now().UTC()
	insertTrade(t, db, 1, "BTC-USDT", "100", "1", now)
	f.beginStatsLoad()
	windows, through, err := f.readStats(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// Committed and applied after the snapshot: id 1 was the latest it saw.
	late := sequencer.TradeEvent{ID: 2, Market: "BTC-USDT", Price: money.MustParse("120"), Quantity: money.MustParse("2"), TakerSide: "buy", Time: now}
	if err := f.apply(sequencer.Events{Time: now, Trades: []sequencer.TradeEvent{late}}); err != nil {
		t.Fatal(err)
	}
	f.installStats(windows, through, true)
	wantTicker(t, ticker(t, f, "BTC-USDT"), "120", "100", "120", "100", "3", "340")
	if len(f.statsSince) != 0 || f.statsLoading {
		t.Fatal("the refresh kept its trades after it ended")
	}
}

// The window slides a minute at a time without reading the trades again:
// a trade leaves it 24 h after its minute, and high and low follow.
func TestTickerWindowSlides(t *testing.T) {
	f, db := testFeed(t)
	ctx := context.Background()
	now := time.Now().UTC()
	insertTrade(t, db, 1, "BTC-USDT", "500", "1", now.Add(-25*time.Hour)) // already outside
	insertTrade(t, db, 2, "BTC-USDT", "300", "1", now.Add(-23*time.Hour))
	insertTrade(t, db, 3, "BTC-USDT", "100", "2", now.Add(-time.Hour))
	if err := f.loadStats(ctx); err != nil {
		t.Fatal(err)
	}
	wantTicker(t, ticker(t, f, "BTC-USDT"), "null", "300", "300", "100", "3", "500")
	trade := sequencer.TradeEvent{ID: 4, Market: "BTC-USDT", Price: money.MustParse("200"), Quantity: money.MustParse("1"), TakerSide: "buy", Time: now}
	if err := f.apply(sequencer.Events{Time: now, Trades: []sequencer.TradeEvent{trade}}); err != nil {
		t.Fatal(err)
	}
	wantTicker(t, ticker(t, f, "BTC-USDT"), "200", "300", "300", "100", "4", "700")
	f.slideStats(now.Add(2 * time.Hour)) // the trade of 23 h ago leaves
	wantTicker(t, ticker(t, f, "BTC-USDT"), "200", "100", "200", "100", "3", "400")
	f.slideStats(now.Add(24*time.Hour + time.Minute)) // all of them
	wantTicker(t, ticker(t, f, "BTC-USDT"), "200", "null", "null", "null", "0", "0")
}

// A feed that starts (or resyncs) takes each market's last price from its
// newest trade, by id: the one committed last, whatever its timestamp (a
// new leader's clock may be behind the old one's). A market without
// trades has none.
func TestSnapshotTakesEachMarketsNewestTrade(t *testing.T) {
	f, db := testFeed(t)
	now := time.Now().UTC()
	insertTrade(t, db, 1, "BTC-USDT", "100", "1", now)
	insertTrade(t, db, 2, "BTC-USDT", "101", "1", now.Add(-time.Minute))
	insertTrade(t, db, 3, "ETH-USDT", "2000", "1", now)
	insertTrade(t, db, 4, "BTC-USDT", "99", "1", now.Add(-time.Hour))
	insertTrade(t, db, 5, "ETH-USDT", "2001", "1", now.Add(time.Minute))
	exec(t, db, `INSERT INTO markets (name, base, quote, tick_size, lot_size, min_notional, maker_fee_bps, taker_fee_bps)
		VALUES ('ETH-BTC', 'ETH', 'BTC', 0.00001, 0.001, 0.0001, 10, 20)`)
	resync(t, f)
	got := map[string]string{}
	for m, p := range f.last {
		got[m] = p.String()
	}
	want := map[string]string{"BTC-USDT": "99", "ETH-USDT": "2001"}
	if len(got) != len(want) || got["BTC-USDT"] != want["BTC-USDT"] || got["ETH-USDT"] != want["ETH-USDT"] {
		t.Fatalf("last prices %v, want %v", got, want)
	}
}
