package marketdata

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// Ticker is a market's current summary. Prices are nil where there is
// nothing to show (no trade yet, an empty side of the book).
type Ticker struct {
	Market         string        `json:"market"`
	Last           *money.Amount `json:"last"`
	BestBid        *money.Amount `json:"best_bid"`
	BestAsk        *money.Amount `json:"best_ask"`
	Open24h        *money.Amount `json:"open_24h"`
	High24h        *money.Amount `json:"high_24h"`
	Low24h         *money.Amount `json:"low_24h"`
	Volume24h      money.Amount  `json:"volume_24h"`
	QuoteVolume24h money.Amount  `json:"quote_volume_24h"`
	Time           time.Time     `json:"time"`
}

// stats24h is what a span of one market's trades adds up to: a minute
// of them, or the whole 24 h window.
type stats24h struct {
	open, high, low     *money.Amount
	volume, quoteVolume money.Amount
}

// fold adds one trade. It allocates new prices rather than
// writing through the pointers: tickers already handed out share them.
func (s stats24h) fold(price, qty money.Amount) stats24h {
	if s.open == nil {
		s.open = &price
	}
	if s.high == nil || price > *s.high {
		s.high = &price
	}
	if s.low == nil || price < *s.low {
		s.low = &price
	}
	// Past the range of an Amount a figure stays as it was.
	if v, err := s.volume.Add(qty); err == nil {
		s.volume = v
	}
	// The quote amount exactly as the engine computes the trade's.
	if quote, err := money.MulDivFloor(price, qty, money.One); err == nil {
		if v, err := s.quoteVolume.Add(quote); err == nil {
			s.quoteVolume = v
		}
	}
	return s
}

func nonZero(a money.Amount) *money.Amount {
	if a == 0 {
		return nil
	}
	return &a
}

// tickerLocked combines the live book and last price with the cached 24 h
// statistics; the caller holds f.mu.
func (f *Feed) tickerLocked(market string) Ticker {
	bid, ask := f.bestLocked(market)
	var st stats24h
	if w := f.windows[market]; w != nil {
		st = w.total
	}
	return Ticker{
		Market: market, Last: nonZero(f.last[market]), BestBid: nonZero(bid), BestAsk: nonZero(ask),
		Open24h: st.open, High24h: st.high, Low24h: st.low, Volume24h: st.volume, QuoteVolume24h: st.quoteVolume,
		Time: time.Now().UTC(),
	}
}

// Ticker returns a market's ticker.
func (f *Feed) Ticker(market string) (Ticker, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, ok := f.books[market]; !ok || !f.ready.Load() {
		return Ticker{}, false
	}
	return f.tickerLocked(market), true
}

// refreshStats keeps the 24 h windows: it reads them from the trades when
// the feed (re)synced, since trades committed while it did not listen
// reached it as no event, and slides them every few seconds; in between,
// apply folds each trade in.
func (f *Feed) refreshStats(ctx context.Context) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	stale := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.resynced:
			stale = true
		case <-t.C:
		}
		if stale {
			if err := f.loadStats(ctx); err != nil {
				if ctx.Err() == nil {
					f.log.Warn("load 24h statistics", "error", err.Error())
				}
				continue
			}
			stale = false
		}
		f.slideStats(time.Now())
	}
}

const statsEvery = 5 * time.Second

// loadStats replaces the windows with the database's. Trades the feed
// applies while the query runs but that its snapshot missed are folded in
// again, so the swap never loses a trade.
func (f *Feed) loadStats(ctx context.Context) error {
	f.beginStatsLoad()
	windows, through, err := f.readStats(ctx, time.Now())
	f.installStats(windows, through, err == nil)
	return err
}

// beginStatsLoad starts keeping the trades apply folds in. Every trade
// applied before it had committed, so the coming snapshot holds it.
func (f *Feed) beginStatsLoad() {
	f.mu.Lock()
	f.statsLoading, f.statsSince = true, nil
	f.mu.Unlock()
}

// readStats reads the 24 h window of every market, a row per market and
// minute, and the id of the latest trade, in one snapshot: the windows
// count every trade up to that id. Trade ids grow in commit order (one
// writer), so it marks exactly which trades the windows hold.
func (f *Feed) readStats(ctx context.Context, now time.Time) (map[string]*window, int64, error) {
	var rows []struct {
		Market              string
		Minute              int64
		Open, High, Low     money.Amount
		Volume, QuoteVolume money.Amount
	}
	var through int64
	err := f.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Raw(`SELECT coalesce(max(id), 0) FROM trades`).Scan(&through).Error; err != nil {
			return fmt.Errorf("latest trade: %w", err)
		}
		return tx.Raw(`
			SELECT market, floor(extract(epoch FROM created_at) / 60)::bigint AS minute,
			       (array_agg(price ORDER BY id))[1] AS open, max(price) AS high, min(price) AS low,
			       sum(quantity) AS volume, sum(quote_quantity) AS quote_volume
			FROM trades WHERE created_at >= to_timestamp(? * 60)
			GROUP BY 1, 2 ORDER BY 1, 2`, unixMinute(now)-windowMinutes+1).Scan(&rows).Error
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("24h statistics: %w", err)
	}
	windows := map[string]*window{}
	for _, r := range rows {
		w := windows[r.Market]
		if w == nil {
			w = &window{}
			windows[r.Market] = w
		}
		w.add(minuteStats{at: r.Minute, stats24h: stats24h{open: &r.Open, high: &r.High, low: &r.Low, volume: r.Volume, quoteVolume: r.QuoteVolume}})
	}
	return windows, through, nil
}

// installStats swaps in what readStats read (when ok) plus the trades
// applied since beginStatsLoad that it did not count.
func (f *Feed) installStats(windows map[string]*window, through int64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	since := f.statsSince
	f.statsLoading, f.statsSince = false, nil
	if !ok {
		return // the folded figures stand until a load succeeds
	}
	f.windows, f.statsThrough = windows, through
	for _, t := range since {
		f.foldTradeLocked(t)
	}
}

// slideStats drops what has left every market's window.
func (f *Feed) slideStats(now time.Time) {
	cutoff := unixMinute(now) - windowMinutes + 1
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.windows {
		w.slide(cutoff)
	}
}

// foldTradeLocked counts a trade in its market's window at once, so a
// ticker never shows a last price outside [low, high] or a volume without
// the trade. A trade already counted (read from the database, or an event
// a resync replays) is not counted again. The caller holds f.mu.
func (f *Feed) foldTradeLocked(t sequencer.TradeEvent) {
	if f.statsLoading {
		f.statsSince = append(f.statsSince, t)
	}
	if t.ID <= f.statsThrough {
		return
	}
	w := f.windows[t.Market]
	if w == nil {
		w = &window{}
		f.windows[t.Market] = w
	}
	w.fold(unixMinute(t.Time), t.Price, t.Quantity)
	f.statsThrough = t.ID
}

// Trades returns a market's latest trades, newest first.
func Trades(ctx context.Context, db *gorm.DB, market string, limit int) ([]TradeJSON, error) {
	var rows []struct {
		ID        int64
		Price     money.Amount
		Quantity  money.Amount
		TakerSide string
		CreatedAt time.Time
	}
	err := db.WithContext(ctx).Raw(`SELECT id, price, quantity, taker_side, created_at FROM trades
		WHERE market = ? ORDER BY id DESC LIMIT ?`, market, limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("recent trades: %w", err)
	}
	out := make([]TradeJSON, len(rows))
	for i, r := range rows {
		out[i] = TradeJSON{ID: formatID(r.ID), Price: r.Price, Quantity: r.Quantity, TakerSide: r.TakerSide, Time: r.CreatedAt.UTC()}
	}
	return out, nil
}

// Intervals are the candle widths served.
var Intervals = map[string]time.Duration{
	"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour,
}

// MaxCandles bounds one candles response.
const MaxCandles = 1000

// Candle is [open_time, open, high, low, close, volume]; it marshals as
// that array, as the API contract shows.
type Candle struct {
	OpenTime               time.Time
	Open, High, Low, Close money.Amount
	Volume                 money.Amount
}

// MarshalJSON writes the contract's array form.
func (c Candle) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`[%q,"%s","%s","%s","%s","%s"]`, c.OpenTime.UTC().Format(time.RFC3339), c.Open, c.High, c.Low, c.Close, c.Volume)), nil
}

// Candles aggregates a market's trades into OHLCV candles over the
// intervals that [from, to) touches. An interval without trades has no
// candle: a chart draws a gap there rather than a flat candle that no
// trade made.
func Candles(ctx context.Context, db *gorm.DB, market, interval string, from, to time.Time) ([]Candle, error) {
	width, ok := Intervals[interval]
	if !ok {
		return nil, apierr.New(apierr.InvalidRequest, "interval must be one of 1m, 5m, 15m, 1h, 1d")
	}
	if !to.After(from) {
		return nil, apierr.New(apierr.InvalidRequest, "to must be after from")
	}
	// A candle is labelled with its interval's open time, so it must cover
	// the whole interval: cut at from or to, it would show a part as the
	// whole (the default range, counted back from now, never starts on a
	// boundary).
	from, to = intervalStart(from, width), intervalEnd(to, width)
	if to.Sub(from) > MaxCandles*width {
		return nil, apierr.New(apierr.InvalidRequest, "at most %d candles per request: narrow from/to or widen the interval", MaxCandles)
	}
	var rows []struct {
		Bucket                 time.Time
		Open, High, Low, Close money.Amount
		Volume                 money.Amount
	}
	err := db.WithContext(ctx).Raw(`
		SELECT date_bin(make_interval(secs => ?), created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
		       (array_agg(price ORDER BY id))[1] AS open, max(price) AS high, min(price) AS low,
		       (array_agg(price ORDER BY id DESC))[1] AS close, sum(quantity) AS volume
		FROM trades WHERE market = ? AND created_at >= ? AND created_at < ?
		GROUP BY bucket ORDER BY bucket`, width.Seconds(), market, from, to).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("candles: %w", err)
	}
	out := make([]Candle, len(rows))
	for i, r := range rows {
		out[i] = Candle{OpenTime: r.Bucket, Open: r.Open, High: r.High, Low: r.Low, Close: r.Close, Volume: r.Volume}
	}
	return out, nil
}

// intervalStart is the open time of the interval that holds t. Truncate
// counts from the zero time, a UTC midnight like the query's date_bin
// origin, and every width divides a day, so both cut at the same instants.
func intervalStart(t time.Time, width time.Duration) time.Time { return t.Truncate(width).UTC() }

// intervalEnd is the first interval boundary at or after t.
func intervalEnd(t time.Time, width time.Duration) time.Time {
	start := intervalStart(t, width)
	if start.Equal(t) {
		return start
	}
	return start.Add(width)
}

// pushBalances sends subscribed accounts their balances after a change.
// Changes that arrive while it works wait in f.balances, merged per
// account, and are all sent in the next round.
func (f *Feed) pushBalances(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.balances.signal:
			for _, id := range f.hub.balanceAccounts(f.balances.take()) {
				if ctx.Err() != nil {
					return
				}
				f.pushBalance(ctx, id)
			}
		}
	}
}

// pushBalance sends one account's current balances to its subscribers.
func (f *Feed) pushBalance(ctx context.Context, id int64) {
	bs, err := ledger.Balances(ctx, f.db, id)
	if err != nil {
		f.log.Warn("push balances", "account", id, "error", err.Error())
		return
	}
	out := make([]BalanceJSON, len(bs))
	for i, b := range bs {
		out[i] = BalanceJSON{Asset: b.Asset, Available: b.Available, Held: b.Held}
	}
	f.hub.publishAccount(id, encode(balancesMessage{Type: "balances", Channel: "balances", Data: out}))
}

// bookSnapshotMessage is the first message of a book subscription: the
// whole book, so that applying the deltas after it keeps an exact copy.
// The caller holds f.mu.
func (f *Feed) bookSnapshotMessage(market string) []byte {
	b := f.books[market]
	return encode(bookMessage{Type: "snapshot", Channel: bookChannel(market), Sequence: b.sequence,
		Bids: levels(depth(b.bids, true, len(b.bids))), Asks: levels(depth(b.asks, false, len(b.asks)))})
}

// Trades is Trades on the feed's database, for the transports.
func (f *Feed) Trades(ctx context.Context, market string, limit int) ([]TradeJSON, error) {
	return Trades(ctx, f.reads.DB(), market, limit)
}

// Candles is Candles on the feed's database, for the transports.
func (f *Feed) Candles(ctx context.Context, market, interval string, from, to time.Time) ([]Candle, error) {
	return Candles(ctx, f.reads.DB(), market, interval, from, to)
}
