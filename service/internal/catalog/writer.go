package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Listed is the listing as the sequencer loads it: the assets, and the
// markets with the sequence number of each book's last change.
type Listed struct {
	Assets    map[string]Asset
	Markets   []Market
	Sequences map[string]int64
}

// Load reads the listing for the sequencer's rebuild.
func Load(ctx context.Context, conn *pgx.Conn) (Listed, error) {
	l := Listed{Assets: map[string]Asset{}, Sequences: map[string]int64{}}
	rows, err := conn.Query(ctx, `SELECT symbol, name, precision, withdrawal_daily_limit::text, deposit_max::text, balance_max::text FROM assets`)
	if err != nil {
		return l, fmt.Errorf("load assets: %w", err)
	}
	for rows.Next() {
		var a Asset
		var limit, depositMax, balanceMax string
		if err := rows.Scan(&a.Symbol, &a.Name, &a.Precision, &limit, &depositMax, &balanceMax); err != nil {
			return l, fmt.Errorf("load assets: %w", err)
		}
		if err := parseAll([]string{limit, depositMax, balanceMax}, &a.WithdrawalDailyLimit, &a.DepositMax, &a.BalanceMax); err != nil {
			return l, fmt.Errorf("asset %s: %w", a.Symbol, err)
		}
		l.Assets[a.Symbol] = a
	}
	if err := rows.Err(); err != nil {
		return l, fmt.Errorf("load assets: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT name, base, quote, tick_size::text, lot_size::text, min_notional::text,
		maker_fee_bps, taker_fee_bps, status, book_sequence FROM markets ORDER BY name`)
	if err != nil {
		return l, fmt.Errorf("load markets: %w", err)
	}
	for rows.Next() {
		var m Market
		var tick, lot, minNotional string
		var seq int64
		if err := rows.Scan(&m.Name, &m.Base, &m.Quote, &tick, &lot, &minNotional, &m.MakerFeeBps, &m.TakerFeeBps, &m.Status, &seq); err != nil {
			return l, fmt.Errorf("load markets: %w", err)
		}
		if err := parseAll([]string{tick, lot, minNotional}, &m.TickSize, &m.LotSize, &m.MinNotional); err != nil {
			return l, fmt.Errorf("market %s: %w", m.Name, err)
		}
		l.Markets = append(l.Markets, m)
		l.Sequences[m.Name] = seq
	}
	return l, rows.Err()
}

func parseAll(texts []string, dst ...*money.Amount) error {
	for i, t := range texts {
		a, err := money.Parse(t)
		if err != nil {
			return fmt.Errorf("amount %q: %w", t, err)
		}
		*dst[i] = a
	}
	return nil
}

// MarketChanges are what one sequencer batch did to markets: halts and
// resumptions, and the sequence number each changed book reached (it
// survives failover here).
type MarketChanges struct {
	Statuses  map[string]string
	Sequences map[string]int64
}

// SetStatus records a market's new status.
func (c *MarketChanges) SetStatus(market, status string) {
	if c.Statuses == nil {
		c.Statuses = map[string]string{}
	}
	c.Statuses[market] = status
}

// SetSequence records a book's new sequence number.
func (c *MarketChanges) SetSequence(market string, seq int64) {
	if c.Sequences == nil {
		c.Sequences = map[string]int64{}
	}
	c.Sequences[market] = seq
}

// Reset empties the changes for the next batch.
func (c *MarketChanges) Reset() {
	clear(c.Statuses)
	clear(c.Sequences)
}

// Queue adds the statements that write the changes to q.
func (c *MarketChanges) Queue(q *pgx.Batch) {
	for market, status := range c.Statuses {
		q.Queue("UPDATE markets SET status = $1 WHERE name = $2", status, market)
	}
	if len(c.Sequences) > 0 {
		var names []string
		var seqs []int64
		for n, s := range c.Sequences {
			names, seqs = append(names, n), append(seqs, s)
		}
		q.Queue(`UPDATE markets m SET book_sequence = v.seq FROM unnest($1::text[], $2::bigint[]) AS v(name, seq) WHERE m.name = v.name`, names, seqs)
	}
}
