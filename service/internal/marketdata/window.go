package marketdata

import (
	"time"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// windowMinutes is the 24 h window, a minute at a time: the current minute
// and the 1,439 before it.
const windowMinutes = 24 * 60

// window is one market's trades of the last 24 h in one bucket per
// minute, oldest first. The figures slide a minute at a time by dropping
// buckets, so the trades are read from the database once, at start and
// after a resync, and never again as the window moves.
type window struct {
	minutes []minuteStats
	total   stats24h
}

type minuteStats struct {
	at int64 // unix minutes
	stats24h
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// fold adds a trade made at minute at. Trades come in id order, and ids
// grow with commit time; a trade stamped before the newest bucket (clocks
// of two leaders a moment apart) joins that bucket.
func (w *window) fold(at int64, price, qty money.Amount) {
	if n := len(w.minutes); n == 0 || w.minutes[n-1].at < at {
		w.minutes = append(w.minutes, minuteStats{at: at})
	}
	last := &w.minutes[len(w.minutes)-1]
	last.stats24h = last.fold(price, qty)
	w.total = w.total.fold(price, qty)
}

// add appends a minute read from the database; minutes come oldest first.
func (w *window) add(m minuteStats) {
	w.minutes = append(w.minutes, m)
	w.total = w.total.merge(m.stats24h)
}

// slide drops the minutes before cutoff and reports whether any went.
func (w *window) slide(cutoff int64) bool {
	i := 0
	for i < len(w.minutes) && w.minutes[i].at < cutoff {
		i++
	}
	if i == 0 {
		return false
	}
	w.minutes = append(w.minutes[:0], w.minutes[i:]...)
	w.total = stats24h{}
	for _, m := range w.minutes {
		w.total = w.total.merge(m.stats24h)
	}
	return true
}

// merge combines two spans of trades, s before o.
func (s stats24h) merge(o stats24h) stats24h {
	if s.open == nil {
		s.open = o.open
	}
	if o.high != nil && (s.high == nil || *o.high > *s.high) {
		s.high = o.high
	}
	if o.low != nil && (s.low == nil || *o.low < *s.low) {
		s.low = o.low
	}
	// Past the range of an Amount a figure stays as it was, as in fold.
	if v, err := s.volume.Add(o.volume); err == nil {
		s.volume = v
	}
	if v, err := s.quoteVolume.Add(o.quoteVolume); err == nil {
		s.quoteVolume = v
	}
	return s
}
