package sequencer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// A batch costs two round trips to Postgres, each a pipeline of
// statements: one opens the transaction and reads under lock what the
// batch needs, the other writes everything and commits. Amounts travel as
// text and are cast to NUMERIC by the server, exact both ways.

const lockBalancesSQL = `SELECT b.account_id, b.asset, b.available::text, b.held::text
	FROM balances b JOIN unnest($1::bigint[], $2::text[]) AS k(account_id, asset) USING (account_id, asset)
	ORDER BY b.account_id, b.asset FOR UPDATE OF b`

const clientIDsSQL = `SELECT ` + orderColumns + ` FROM orders
	WHERE (user_id, client_order_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))`

// begin opens the batch's transaction and loads, under row locks, the
// balances the batch's orders reserve from, and the orders whose
// client_order_id the batch repeats. Locking first means a concurrent
// withdrawal waits for this batch (or this batch for it), so neither can
// spend what the other reserved.
func (s *state) begin(ctx context.Context, conn *pgx.Conn, b *batch, cmds []Command) error {
	var accounts, clientUsers []int64
	var assets, clientIDs []string
	seen := map[balanceKey]bool{}
	for _, c := range cmds {
		p := c.Place
		if p == nil {
			continue
		}
		if p.ClientOrderID != "" {
			clientUsers = append(clientUsers, p.UserID)
			clientIDs = append(clientIDs, p.ClientOrderID)
		}
		if m := s.markets[p.Market]; m != nil {
			k := balanceKey{p.AccountID, holdAsset(p, m)}
			if !seen[k] {
				seen[k] = true
				accounts, assets = append(accounts, k.account), append(assets, k.asset)
			}
		}
	}
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	if len(accounts) > 0 {
		q.Queue(lockBalancesSQL, accounts, assets).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k balanceKey
				var avail, held string
				if err := rows.Scan(&k.account, &k.asset, &avail, &held); err != nil {
					return err
				}
				bal := b.balance(k.account, k.asset)
				if err := scanAmounts([]string{avail, held}, &bal.available, &bal.held); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}
	if len(clientIDs) > 0 {
		q.Queue(clientIDsSQL, clientUsers, clientIDs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				o, err := scanOrder(rows)
				if err != nil {
					return err
				}
				b.existingClientIDs[clientKey{o.UserID, *o.ClientOrderID}] = o
			}
			return rows.Err()
		})
	}
	if err := conn.SendBatch(ctx, q).Close(); err != nil {
		return fmt.Errorf("lock balances: %w", err)
	}
	// A balance without a row is zero; it is loaded all the same.
	for k := range seen {
		b.balance(k.account, k.asset).loaded = true
	}
	return nil
}

// commit writes the batch, publishes its events and commits, in one pipeline.
func (b *batch) commit(ctx context.Context, conn *pgx.Conn, ev Events, notices []string) error {
	q := &pgx.Batch{}
	if n := len(b.newOrders); n > 0 {
		ids, users, accounts := make([]int64, n), make([]int64, n), make([]int64, n)
		markets, sides, types, tifs, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		clientIDs, prices, qtys, quoteQtys := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		filled, filledQuote, fees := make([]string, n), make([]string, n), make([]string, n)
		postOnly := make([]bool, n)
		for i, o := range b.newOrders {
			ids[i], users[i], accounts[i] = o.ID, o.UserID, o.AccountID
			markets[i], sides[i], types[i], tifs[i], statuses[i] = o.Market, o.Side, o.Type, o.TimeInForce, o.Status
			clientIDs[i], prices[i], qtys[i], quoteQtys[i] = o.ClientOrderID, text(o.Price), text(o.Quantity), text(o.QuoteQuantity)
			filled[i], filledQuote[i], fees[i] = o.FilledQuantity.String(), o.FilledQuote.String(), o.Fee.String()
			postOnly[i] = o.PostOnly
		}
		q.Queue(`INSERT INTO orders (id, user_id, account_id, market, client_order_id, side, type, time_in_force, post_only,
				price, quantity, quote_quantity, filled_quantity, filled_quote, fee, status, created_at, updated_at)
			SELECT id, user_id, account_id, market, client_order_id, side, type, tif, post_only,
				price::numeric, qty::numeric, quote_qty::numeric, filled::numeric, filled_quote::numeric, fee::numeric, status, $17, $17
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[],
				$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
				AS o(id, user_id, account_id, market, client_order_id, side, type, tif, post_only, price, qty, quote_qty, filled, filled_quote, fee, status)`,
			ids, users, accounts, markets, clientIDs, sides, types, tifs, postOnly, prices, qtys, quoteQtys, filled, filledQuote, fees, statuses, b.now)
	}
	if n := len(b.changedOrders); n > 0 {
		ids := make([]int64, 0, n)
		var filled, quote, fee, status []string
		for id, o := range b.changedOrders {
			ids = append(ids, id)
			filled, quote, fee = append(filled, o.FilledQuantity.String()), append(quote, o.FilledQuote.String()), append(fee, o.Fee.String())
			status = append(status, o.Status)
		}
		q.Queue(`UPDATE orders o SET filled_quantity = v.filled::numeric, filled_quote = v.quote::numeric, fee = v.fee::numeric,
				status = v.status, updated_at = $6
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS v(id, filled, quote, fee, status)
			WHERE o.id = v.id`, ids, filled, quote, fee, status, b.now)
	}
	if n := len(b.trades); n > 0 {
		ids, makers, takers, makerUsers, takerUsers := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		markets, sides := make([]string, n), make([]string, n)
		prices, qtys, quotes, makerFees, takerFees := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, t := range b.trades {
			ids[i], makers[i], takers[i], makerUsers[i], takerUsers[i] = t.id, t.MakerID, t.TakerID, t.makerUserID, t.takerUserID
			markets[i], sides[i] = t.market, t.TakerSide.String()
			prices[i], qtys[i], quotes[i] = t.Price.String(), t.Quantity.String(), t.Quote.String()
			makerFees[i], takerFees[i] = t.MakerFee.String(), t.TakerFee.String()
		}
		q.Queue(`INSERT INTO trades (id, market, price, quantity, quote_quantity, taker_side, maker_order_id, taker_order_id,
				maker_user_id, taker_user_id, maker_fee, taker_fee, created_at)
			SELECT id, market, price::numeric, qty::numeric, quote::numeric, side, maker, taker, maker_user, taker_user,
				maker_fee::numeric, taker_fee::numeric, $13
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[],
				$9::bigint[], $10::bigint[], $11::text[], $12::text[])
				AS t(id, market, price, qty, quote, side, maker, taker, maker_user, taker_user, maker_fee, taker_fee)`,
			ids, markets, prices, qtys, quotes, sides, makers, takers, makerUsers, takerUsers, makerFees, takerFees, b.now)
	}
	if n := len(b.entries); n > 0 {
		ids, kinds, memos := make([]int64, n), make([]string, n), make([]string, n)
		var legEntries, legAccounts []int64
		var legAssets, legBuckets, legAmounts []string
		for i, e := range b.entries {
			ids[i], kinds[i], memos[i] = e.id, e.kind, e.memo
			for _, l := range e.legs {
				legEntries, legAccounts = append(legEntries, e.id), append(legAccounts, l.Account)
				legAssets, legBuckets, legAmounts = append(legAssets, l.Asset), append(legBuckets, string(l.Bucket)), append(legAmounts, l.Amount.String())
			}
		}
		q.Queue(`INSERT INTO journal_entries (id, kind, memo, created_at)
			SELECT id, kind, memo, $4 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS e(id, kind, memo)`, ids, kinds, memos, b.now)
		q.Queue(`INSERT INTO journal_legs (entry_id, account_id, asset, bucket, amount)
			SELECT entry_id, account_id, asset, bucket, amount::numeric
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[]) AS l(entry_id, account_id, asset, bucket, amount)`,
			legEntries, legAccounts, legAssets, legBuckets, legAmounts)
	}
	var accounts []int64
	var assets, dAvail, dHeld []string
	for k, bal := range b.balances {
		if bal.dAvailable == 0 && bal.dHeld == 0 {
			continue
		}
		accounts, assets = append(accounts, k.account), append(assets, k.asset)
		dAvail, dHeld = append(dAvail, bal.dAvailable.String()), append(dHeld, bal.dHeld.String())
	}
	if len(accounts) > 0 {
		// Deltas, not absolute values: balances this batch did not lock
		// (makers being paid) may change under other transactions' locks.
		// Existing rows are updated; missing ones (a first credit) are
		// inserted. A plain upsert would not do: Postgres checks the
		// non-negative constraint on the row it proposes to insert, and a
		// delta can be negative.
		q.Queue(`WITH d AS (
				SELECT k.account_id, k.asset, k.available::numeric AS available, k.held::numeric AS held
				FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS k(account_id, asset, available, held)),
			updated AS (
				UPDATE balances b SET available = b.available + d.available, held = b.held + d.held, updated_at = $5
				FROM d WHERE b.account_id = d.account_id AND b.asset = d.asset
				RETURNING b.account_id, b.asset)
			INSERT INTO balances (account_id, asset, available, held, updated_at)
			SELECT d.account_id, d.asset, d.available, d.held, $5 FROM d
			WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.account_id = d.account_id AND u.asset = d.asset)
			ON CONFLICT (account_id, asset) DO UPDATE SET available = balances.available + EXCLUDED.available,
				held = balances.held + EXCLUDED.held, updated_at = EXCLUDED.updated_at`, accounts, assets, dAvail, dHeld, b.now)
	}
	for market, status := range b.marketStatus {
		q.Queue("UPDATE markets SET status = $1 WHERE name = $2", status, market)
	}
	if len(ev.Books) > 0 {
		names, seqs := make([]string, len(ev.Books)), make([]int64, len(ev.Books))
		for i, d := range ev.Books {
			names[i], seqs[i] = d.Market, d.Sequence
		}
		q.Queue(`UPDATE markets m SET book_sequence = v.seq FROM unnest($1::text[], $2::bigint[]) AS v(name, seq) WHERE m.name = v.name`, names, seqs)
	}
	for _, n := range notices {
		q.Queue("SELECT pg_notify($1, $2)", EventsChannel, n)
	}
	q.Queue("COMMIT")
	if err := conn.SendBatch(ctx, q).Close(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// rollback ends a failed batch's transaction; harmless when none is open.
func rollback(ctx context.Context, conn *pgx.Conn) {
	if !conn.IsClosed() {
		conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
}

func text(a *money.Amount) *string {
	if a == nil {
		return nil
	}
	s := a.String()
	return &s
}

// entryIDs hands out journal entry ids reserved from the identity sequence
// in blocks, so a batch does not wait for a round trip to number its
// entries. Ids lost at a failover leave gaps, which ids may have.
type entryIDs struct {
	pool []int64
}

const entryIDBlock = 8192

func (p *entryIDs) take(ctx context.Context, conn *pgx.Conn, n int) ([]int64, error) {
	for len(p.pool) < n {
		rows, err := conn.Query(ctx, `SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')) FROM generate_series(1, $1)`, max(n, entryIDBlock))
		if err != nil {
			return nil, fmt.Errorf("reserve journal ids: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, fmt.Errorf("reserve journal ids: %w", err)
		}
		p.pool = append(p.pool, ids...)
	}
	out := p.pool[:n:n]
	p.pool = p.pool[n:]
	return out, nil
}
