package sequencer

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/audit"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/risk"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// batch accumulates what a group of commands changed, for each table's
// owner to write in one transaction. It is reused from batch to batch.
type batch struct {
	now       time.Time
	orders    orders.Changes
	ledger    ledger.Changes
	transfers transfers.Changes
	audit     audit.Changes
	markets   catalog.MarketChanges
	events    eventLog
	ids       *idPools
	// sink builds proof-of-liabilities snapshots; snap is one asked for
	// in this batch, copied once the batch commits.
	sink SnapshotSink
	snap *pendingSnapshot
}

func (b *batch) reset(now time.Time) {
	b.now = now
	b.orders.Reset()
	b.ledger.Reset()
	b.transfers.Reset()
	b.audit.Reset()
	b.markets.Reset()
	b.events = eventLog{}
	b.snap = nil
}

// post applies one command's postings to the balances and records its
// journal entry. An available balance that would go negative refuses the
// whole posting with insufficient_funds and changes nothing: only a
// command whose postings are its first change may let that through as
// the client's error. Anything else is a fault that fails the batch.
func (s *state) post(b *batch, kind, memo string, createdBy *int64, p *risk.Postings) (int64, error) {
	legs := p.Legs()
	if len(legs) == 0 {
		return 0, nil
	}
	if err := risk.Balanced(legs); err != nil {
		return 0, err
	}
	if err := s.balances.Apply(legs); err != nil {
		var ins *risk.Insufficient
		if errors.As(err, &ins) {
			return 0, apierr.New(apierr.InsufficientFunds, "%s", ins.Error())
		}
		return 0, err
	}
	id := b.ids.entries.take()
	s.lastEntry = id
	b.ledger.Post(id, ledger.Entry{Kind: kind, Memo: memo, CreatedBy: createdBy, Legs: legs})
	for _, l := range legs {
		if l.Account != risk.ExternalAccount {
			b.events.account(l.Account)
		}
	}
	return id, nil
}

// writes is the batch as one pipeline, one round trip: BEGIN, each
// table's writes, COMMIT. Every value is copied into the statements'
// arguments here, on the batch loop, so the next batch may change the
// state in memory while this one is on the wire. Its events are published
// once it is durable (flusher).
func (b *batch) writes(balances *risk.Balances) *pgx.Batch {
	for _, k := range balances.Touched() {
		b.ledger.Balances = append(b.ledger.Balances, ledger.Row{Key: k, Balance: balances.Get(k)})
	}
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	// The batch's statements find their rows by key. Their cached generic
	// plans are made on the first executions, and a leader that starts on
	// an empty orders table planned the order update as a nested loop over
	// a sequential scan: measured at 21 ms per update (1.3 ms a row) once
	// the table had grown, two thirds of PostgreSQL's CPU per order, until
	// the leader reconnected. Index scans are never wrong for them.
	q.Queue("SET LOCAL enable_seqscan = off")
	if b.snap == nil {
		// The flusher waits for the log on another connection. A snapshot's
		// batch waits itself: its balances are copied the moment it commits.
		q.Queue("SET LOCAL synchronous_commit = off")
	}
	b.orders.Queue(q, b.now)
	b.ledger.Queue(q, b.now)
	b.transfers.Queue(q, b.now)
	b.audit.Queue(q, b.now)
	b.markets.Queue(q)
	q.Queue("COMMIT")
	return q
}

// rollback ends a failed batch's transaction; harmless when none is open.
func rollback(ctx context.Context, conn *pgx.Conn) {
	if !conn.IsClosed() {
		conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
}

// idPool hands out ids reserved from a table's identity sequence in
// blocks, so a batch numbers its rows without a round trip. Ids lost at a
// failover leave gaps, which ids may have.
type idPool struct {
	reserve func(ctx context.Context, conn *pgx.Conn, n int) ([]int64, error)
	block   int
	ids     []int64
}

// ensure tops the pool up to at least n ids.
func (p *idPool) ensure(ctx context.Context, conn *pgx.Conn, n int) error {
	if len(p.ids) >= n {
		return nil
	}
	more, err := p.reserve(ctx, conn, max(n-len(p.ids), p.block))
	if err != nil {
		return err
	}
	p.ids = append(p.ids, more...)
	return nil
}

// take hands out one id; ensure made sure there is one.
func (p *idPool) take() int64 {
	id := p.ids[0]
	p.ids = p.ids[1:]
	return id
}

type idPools struct {
	entries, deposits, withdrawals, adjustments idPool
}

func newIDPools() *idPools {
	return &idPools{
		entries:     idPool{reserve: ledger.ReserveEntryIDs, block: 8192},
		deposits:    idPool{reserve: transfers.ReserveDepositIDs, block: 256},
		withdrawals: idPool{reserve: transfers.ReserveWithdrawalIDs, block: 256},
		adjustments: idPool{reserve: transfers.ReserveAdjustmentIDs, block: 16},
	}
}

// lacks reports whether cmds need more ids than the pools hold: ensure
// must top them up first, which takes the connection.
func (p *idPools) lacks(cmds []Command) bool {
	deposits, withdrawals, adjustments := numbered(cmds)
	return len(p.entries.ids) < len(cmds) || len(p.deposits.ids) < deposits ||
		len(p.withdrawals.ids) < withdrawals || len(p.adjustments.ids) < adjustments
}

// numbered counts the commands that create a deposit, a withdrawal or an
// adjustment, each of which takes an id.
func numbered(cmds []Command) (deposits, withdrawals, adjustments int) {
	for _, c := range cmds {
		switch {
		case c.Deposit != nil:
			deposits++
		case c.Withdraw != nil:
			withdrawals++
		case c.Adjust != nil:
			adjustments++
		}
	}
	return deposits, withdrawals, adjustments
}

// ensure reserves what cmds may number: an entry per command at most, and
// a deposit, withdrawal or adjustment per command that creates one.
func (p *idPools) ensure(ctx context.Context, conn *pgx.Conn, cmds []Command) error {
	deposits, withdrawals, adjustments := numbered(cmds)
	if err := p.adjustments.ensure(ctx, conn, adjustments); err != nil {
		return err
	}
	if err := p.entries.ensure(ctx, conn, len(cmds)); err != nil {
		return err
	}
	if err := p.deposits.ensure(ctx, conn, deposits); err != nil {
		return err
	}
	return p.withdrawals.ensure(ctx, conn, withdrawals)
}
