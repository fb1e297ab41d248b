package marketdata

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
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

// stats24h is the rolling 24 h window of one market, read from trades.
type stats24h struct {
	open, high, low     *money.Amount
	volume, quoteVolume money.Amount
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
	st := f.stats[market]
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

// refreshStats re-reads the 24 h statistics of every market now and then:
// a window this wide moves slowly, and one query per market every few
// seconds costs nothing next to a query per trade.
func (f *Feed) refreshStats(ctx context.Context) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		if err := f.loadStats(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("refresh 24h statistics", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const statsEvery = 5 * time.Second

func (f *Feed) loadStats(ctx context.Context) error {
	var rows []struct {
		Market              string
		Open, High, Low     *money.Amount
		Volume, QuoteVolume money.Amount
	}
	err := f.db.WithContext(ctx).Raw(`
		SELECT market,
		       (array_agg(price ORDER BY id))[1] AS open, max(price) AS high, min(price) AS low,
		       sum(quantity) AS volume, sum(quote_quantity) AS quote_volume
		FROM trades WHERE created_at > now() - interval '24 hours' GROUP BY market`).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("24h statistics: %w", err)
	}
	stats := map[string]stats24h{}
	for _, r := range rows {
		stats[r.Market] = stats24h{open: r.Open, high: r.High, low: r.Low, volume: r.Volume, quoteVolume: r.QuoteVolume}
	}
	f.mu.Lock()
	f.stats = stats
	f.mu.Unlock()
	return nil
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

// Candles aggregates a market's trades into OHLCV candles over [from, to).
// An interval without trades has no candle: a chart draws a gap there
// rather than a flat candle that no trade made.
func Candles(ctx context.Context, db *gorm.DB, market, interval string, from, to time.Time) ([]Candle, error) {
	width, ok := Intervals[interval]
	if !ok {
		return nil, apierr.New(apierr.InvalidRequest, "interval must be one of 1m, 5m, 15m, 1h, 1d")
	}
	if !to.After(from) {
		return nil, apierr.New(apierr.InvalidRequest, "to must be after from")
	}
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

// pushBalances sends subscribed accounts their balances after a change.
func (f *Feed) pushBalances(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ids := <-f.balances:
			for _, id := range f.hub.balanceAccounts(ids) {
				bs, err := ledger.Balances(ctx, f.db, id)
				if err != nil {
					f.log.Warn("push balances", "account", id, "error", err.Error())
					continue
				}
				out := make([]BalanceJSON, len(bs))
				for i, b := range bs {
					out[i] = BalanceJSON{Asset: b.Asset, Available: b.Available, Held: b.Held}
				}
				f.hub.publishAccount(id, encode(balancesMessage{Type: "balances", Channel: "balances", Data: out}))
			}
		}
	}
}

// bookSnapshotMessage is the first message of a book subscription: the
// whole book, so that applying the deltas after it keeps an exact copy.
// The caller holds f.mu.
func (f *Feed) bookSnapshotMessage(market string) []byte {
	b := f.books[market]
	return encode(bookMessage{Type: "snapshot", Channel: bookChannel(market), Sequence: b.sequence,
		Bids: levels(depth(b.bids, true, len(b.bids))), Asks: levels(depth(b.asks, false, len(b.asks)))})
}
