// Package marketdata is what every replica knows about the markets: a copy
// of each order book aggregated by price, kept current from the events the
// sequencer leader publishes with each committed batch (Postgres
// LISTEN/NOTIFY, no other infrastructure), and the fan-out of those events
// to WebSocket subscribers. Reads of history (trades, candles, 24 h
// statistics) come from the database.
package marketdata

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// Gatekeeper tells a feed whether a stream's credential still grants
// access, and hears of every change of access the feed hears of.
type Gatekeeper interface {
	StillValid(ctx context.Context, c auth.Credential) (expires time.Time, ok bool, err error)
	AccessChanged(auth.AccessChange)
}

// Feed follows the leader's events on this replica.
type Feed struct {
	url string
	// db reads the books and statistics the events continue: the primary.
	db *gorm.DB
	// reads serves trade history and candles, which tolerate a little lag.
	reads *database.Reads
	log   *slog.Logger
	hub   *Hub
	gate  Gatekeeper // nil: streams are never rechecked
	// own are the batches this replica's sequencer published, which the
	// feed takes from memory when their NOTIFY comes.
	own *sequencer.Published

	// mu orders book changes against subscriptions: a subscriber gets a
	// snapshot and then exactly the deltas after it.
	mu    sync.RWMutex
	books map[string]*book
	last  map[string]money.Amount // last trade price per market
	// windows hold each market's last 24 h of trades, a bucket a minute.
	windows map[string]*window
	// statsThrough is the latest trade the windows count; a load under
	// way (statsLoading) keeps the trades applied meanwhile in statsSince,
	// to fold in again those its snapshot missed.
	statsThrough int64
	statsLoading bool
	statsSince   []sequencer.TradeEvent
	ready        atomic.Bool
	// resynced tells refreshStats that the feed read the books afresh:
	// trades committed while it was not listening came as no event.
	resynced chan struct{}

	balances pendingAccounts
	metrics  *metrics
}

// book is one market's aggregated copy.
type book struct {
	sequence   int64
	bids, asks map[money.Amount]money.Amount
}

// NewFeed makes a feed for the database at url (the feed's own LISTEN
// connection) and db (reads); Run starts it. gate rechecks streams' access;
// own are the events of this replica's sequencer (nil: none).
func NewFeed(url string, db *gorm.DB, reads *database.Reads, log *slog.Logger, hub *Hub, gate Gatekeeper, own *sequencer.Published) *Feed {
	return &Feed{url: url, db: db, reads: reads, log: log, hub: hub, gate: gate, own: own, books: map[string]*book{}, last: map[string]money.Amount{},
		windows: map[string]*window{}, resynced: make(chan struct{}, 1), balances: newPendingAccounts(), metrics: hub.metrics}
}

// Ready reports whether the feed holds a current copy of the books.
func (f *Feed) Ready() bool { return f.ready.Load() }

// Run follows events until ctx ends, reconnecting (and re-reading the
// books) after any error.
func (f *Feed) Run(ctx context.Context) {
	go f.pushBalances(ctx)
	go f.refreshStats(ctx)
	go f.expireSessions(ctx)
	for ctx.Err() == nil {
		err := f.follow(ctx)
		f.ready.Store(false)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("market data feed interrupted; resyncing", "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (f *Feed) follow(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(f.url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	// A database that accepts connections but never answers (a frozen
	// machine) must not hold the feed forever: it retries instead.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Listen first, then read the books: an event committed meanwhile is
	// queued on the connection and applied (or skipped as already seen).
	for _, ch := range []string{sequencer.EventsChannel, auth.AccessChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	if err := f.snapshot(ctx, conn); err != nil {
		return err
	}
	// Changes of access announced while no connection listened are lost:
	// ask again about every authenticated stream.
	go f.recheck(ctx, f.hub.authenticated())
	select {
	case f.resynced <- struct{}{}:
	default: // a load is already due
	}
	f.ready.Store(true)
	r := sequencer.Reassembler{Own: f.own}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for events: %w", err)
		}
		if n.Channel == auth.AccessChannel {
			f.accessChanged(n.Payload)
			continue
		}
		ev, done, err := r.Add(n.Payload)
		if err != nil {
			return err
		}
		if done {
			if err := f.apply(ev); err != nil {
				return err
			}
		}
	}
}

// snapshot reads every book, and each book's sequence, in one consistent
// view of the database.
func (f *Feed) snapshot(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	books := map[string]*book{}
	rows, err := tx.Query(ctx, "SELECT name, book_sequence FROM markets")
	if err != nil {
		return fmt.Errorf("snapshot markets: %w", err)
	}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return fmt.Errorf("snapshot markets: %w", err)
		}
		books[name] = &book{sequence: seq, bids: map[money.Amount]money.Amount{}, asks: map[money.Amount]money.Amount{}}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("snapshot markets: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT market, side, price::text, sum(quantity - filled_quantity)::text
		FROM orders WHERE status IN ('open', 'partially_filled') GROUP BY market, side, price`)
	if err != nil {
		return fmt.Errorf("snapshot books: %w", err)
	}
	for rows.Next() {
		var market, side, price, qty string
		if err := rows.Scan(&market, &side, &price, &qty); err != nil {
			return fmt.Errorf("snapshot books: %w", err)
		}
		b := books[market]
		if b == nil {
			continue
		}
		p, err1 := money.Parse(price)
		q, err2 := money.Parse(qty)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("snapshot books: bad amount %q/%q", price, qty)
		}
		if side == "buy" {
			b.bids[p] = q
		} else {
			b.asks[p] = q
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("snapshot books: %w", err)
	}
	last := map[string]money.Amount{}
	// Each market's newest trade, found by walking its index from the end:
	// a DISTINCT ON over the whole table read every trade ever made.
	rows, err = tx.Query(ctx, `SELECT m.name, t.price::text FROM markets m
		CROSS JOIN LATERAL (SELECT price FROM trades WHERE market = m.name ORDER BY id DESC LIMIT 1) t`)
	if err != nil {
		return fmt.Errorf("snapshot last prices: %w", err)
	}
	for rows.Next() {
		var market, price string
		if err := rows.Scan(&market, &price); err != nil {
			return fmt.Errorf("snapshot last prices: %w", err)
		}
		last[market] = money.MustParse(price)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("snapshot last prices: %w", err)
	}
	f.mu.Lock()
	f.books, f.last = books, last
	// Subscribers of a resynced book get a fresh snapshot: the deltas they
	// missed are gone.
	for name := range books {
		f.hub.publishLocked(bookChannel(name), func(*Client) []byte { return f.bookSnapshotMessage(name) })
	}
	f.mu.Unlock()
	return nil
}

// apply updates the books from one batch's events and fans them out.
func (f *Feed) apply(ev sequencer.Events) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range ev.Books {
		b := f.books[d.Market]
		if b == nil {
			return fmt.Errorf("event for unknown market %s", d.Market)
		}
		if d.Sequence <= b.sequence {
			continue // already in the snapshot
		}
		if d.Sequence != b.sequence+1 {
			return fmt.Errorf("book %s: sequence %d after %d", d.Market, d.Sequence, b.sequence)
		}
		setLevels(b.bids, d.Bids)
		setLevels(b.asks, d.Asks)
		b.sequence = d.Sequence
		f.hub.publish(bookChannel(d.Market), encode(bookMessage{Type: "delta", Channel: bookChannel(d.Market), Sequence: d.Sequence, Bids: d.Bids, Asks: d.Asks}))
	}
	// A batch's trades go out as one message per market: a taker that
	// sweeps ten makers costs every subscriber one frame, not ten.
	tickers := map[string]bool{}
	var byMarket map[string][]TradeJSON
	var order []string
	for _, t := range ev.Trades {
		f.last[t.Market] = t.Price
		f.foldTradeLocked(t)
		if !tickers[t.Market] {
			tickers[t.Market] = true
			order = append(order, t.Market)
		}
		if byMarket == nil {
			byMarket = map[string][]TradeJSON{}
		}
		byMarket[t.Market] = append(byMarket[t.Market], tradeJSON(t))
	}
	for _, m := range order {
		f.hub.publish(tradesChannel(m), encode(tradesMessage{Type: "trades", Channel: tradesChannel(m), Data: byMarket[m], CommittedAt: ev.Time}))
	}
	for _, d := range ev.Books {
		tickers[d.Market] = true
	}
	for m := range tickers {
		f.hub.publish(tickerChannel(m), encode(tickerMessage{Type: "ticker", Channel: tickerChannel(m), Data: f.tickerLocked(m)}))
	}
	for _, o := range ev.Orders {
		if f.hub.listensToOrders(o.UserID) {
			f.hub.publishUser(o.UserID, encode(orderMessage{Type: "order", Channel: "orders", Data: o.Order}))
		}
	}
	for _, t := range ev.Transfers {
		f.hub.publishAccount(t.AccountID, transferMessage(t))
	}
	if len(ev.Trades) > 0 {
		f.metrics.deliveryLag.Observe(time.Since(ev.Time).Seconds())
	}
	f.queueBalances(ev.Accounts)
	return nil
}

func setLevels(side map[money.Amount]money.Amount, changes [][2]money.Amount) {
	for _, l := range changes {
		if l[1] == 0 {
			delete(side, l[0])
		} else {
			side[l[0]] = l[1]
		}
	}
}

// Depth is one side's best levels, best first.
func depth(side map[money.Amount]money.Amount, bids bool, n int) [][2]money.Amount {
	out := make([][2]money.Amount, 0, len(side))
	for p, q := range side {
		out = append(out, [2]money.Amount{p, q})
	}
	sort.Slice(out, func(i, j int) bool {
		if bids {
			return out[i][0] > out[j][0]
		}
		return out[i][0] < out[j][0]
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// BookView is a market's aggregated book at one sequence.
type BookView struct {
	Sequence int64
	Bids     [][2]money.Amount
	Asks     [][2]money.Amount
}

// Book returns the best n levels per side of a market's book.
func (f *Feed) Book(market string, n int) (BookView, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b := f.books[market]
	if b == nil || !f.ready.Load() {
		return BookView{}, false
	}
	return BookView{Sequence: b.sequence, Bids: depth(b.bids, true, n), Asks: depth(b.asks, false, n)}, true
}

// bestLocked returns the best bid and ask (zero when a side is empty).
func (f *Feed) bestLocked(market string) (bid, ask money.Amount) {
	b := f.books[market]
	if b == nil {
		return 0, 0
	}
	for p := range b.bids {
		bid = max(bid, p)
	}
	for p := range b.asks {
		if ask == 0 || p < ask {
			ask = p
		}
	}
	return bid, ask
}

// queueBalances hands changed accounts to the balance pusher without ever
// blocking the event loop. No account is ever dropped, however far behind
// the pusher is: a subscriber would keep stale balances until its
// account's next change, which may never come.
func (f *Feed) queueBalances(accounts []int64) {
	if len(accounts) == 0 || !f.hub.hasBalanceSubscribers() {
		return
	}
	f.balances.add(accounts)
}

// pendingAccounts is the set of accounts whose balances changed and have
// not been pushed yet. A set rather than a queue: it cannot overflow (it
// holds each account at most once), and an account that changes many times
// while the pusher is busy costs one push, of its latest balances.
type pendingAccounts struct {
	mu  sync.Mutex
	ids map[int64]struct{}
	// signal holds a token while ids may be non-empty; one token is enough
	// because take empties the whole set.
	signal chan struct{}
}

func newPendingAccounts() pendingAccounts {
	return pendingAccounts{ids: map[int64]struct{}{}, signal: make(chan struct{}, 1)}
}

func (p *pendingAccounts) add(ids []int64) {
	p.mu.Lock()
	for _, id := range ids {
		p.ids[id] = struct{}{}
	}
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default: // a token is already waiting; it covers these ids too
	}
}

// take empties the set and returns what it held, in account order.
func (p *pendingAccounts) take() []int64 {
	p.mu.Lock()
	ids := p.ids
	p.ids = map[int64]struct{}{}
	p.mu.Unlock()
	out := make([]int64, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
