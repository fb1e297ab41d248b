package proofs

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crypto-exchange/exchange/service/internal/liabilities"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// failureBackoff is how long the schedule waits after a failed build
// before it asks again: a snapshot holds the batch loop up for a moment
// and a build takes a core for seconds, not worth repeating every minute.
const failureBackoff = 10 * time.Minute

// Builder turns the leader's copies of the balances into published
// snapshots, one at a time, away from the batch loop. It is the
// sequencer's SnapshotSink.
type Builder struct {
	databaseURL string
	log         *slog.Logger
	retention   time.Duration
	metrics     *metrics
	work        chan *sequencer.Capture
	busy        atomic.Bool
	// retryAt (Unix nanoseconds) holds the schedule back after a failure.
	retryAt atomic.Int64
}

// NewBuilder makes a builder that writes over its own connection to
// databaseURL and prunes leaves older than retention (0: never).
func NewBuilder(databaseURL string, log *slog.Logger, reg prometheus.Registerer, retention time.Duration) *Builder {
	return &Builder{databaseURL: databaseURL, log: log, retention: retention, metrics: newMetrics(reg), work: make(chan *sequencer.Capture, 1)}
}

// Busy reports a snapshot being built.
func (b *Builder) Busy() bool { return b.busy.Load() }

// Take queues a copy for Run. The sequencer asks Busy first, so the queue
// is empty whenever Take is called.
func (b *Builder) Take(c sequencer.Capture) {
	b.busy.Store(true)
	select {
	case b.work <- &c:
	default:
		b.busy.Store(false)
		b.metrics.failures.Inc()
		b.log.Error("proof of liabilities: a snapshot arrived while another waited; dropped", "taken_at", c.TakenAt)
	}
}

// Run builds and publishes each copy handed over, until ctx ends.
func (b *Builder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.work:
			b.publish(ctx, c)
		}
	}
}

func (b *Builder) publish(ctx context.Context, c *sequencer.Capture) {
	defer b.busy.Store(false)
	start, taken, pause := time.Now(), c.SnapshotTaken, c.Pause
	b.metrics.pause.Set(pause.Seconds())
	snap, phases, err := b.Build(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the next leader takes a new one
		}
		b.metrics.failures.Inc()
		b.retryAt.Store(time.Now().Add(failureBackoff).UnixNano())
		b.log.Error("proof of liabilities: snapshot not published", "taken_at", taken.TakenAt, "error", err.Error())
		return
	}
	took := time.Since(start)
	b.metrics.duration.Set(took.Seconds())
	b.metrics.accounts.Set(float64(snap.Accounts))
	b.metrics.lastSuccess.SetToCurrentTime()
	b.log.Info("proof of liabilities: snapshot published", "snapshot_id", snap.ID, "accounts", snap.Accounts,
		"taken_at", taken.TakenAt, "last_entry_id", taken.LastEntryID, "root_hash", fmt.Sprintf("%x", snap.RootHash),
		"build_seconds", took.Seconds(), "rows_seconds", phases.Rows.Seconds(), "tree_seconds", phases.Tree.Seconds(),
		"save_seconds", phases.Save.Seconds(), "pause_seconds", pause.Seconds())
	if b.retention > 0 {
		b.prune(ctx)
	}
}

// Phases is where a build's time went.
type Phases struct {
	Rows time.Duration // the customers' rows from the copy
	Tree time.Duration // hashing and the levels
	Save time.Duration // the tables, in one transaction
}

// Build turns one copy into a published snapshot: the customers' rows,
// the tree, and the tables, in one transaction. It drops the copy's
// balances as soon as the rows are made, to keep the peak memory down.
func (b *Builder) Build(ctx context.Context, c *sequencer.Capture) (liabilities.Snapshot, Phases, error) {
	var ph Phases
	if c.Err != nil {
		return liabilities.Snapshot{}, ph, fmt.Errorf("the leader's copy is void: %w", c.Err)
	}
	conn, err := pgx.Connect(ctx, b.databaseURL)
	if err != nil {
		return liabilities.Snapshot{}, ph, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	start := time.Now()
	in, accounts, err := customerRows(ctx, conn, c)
	if err != nil {
		return liabilities.Snapshot{}, ph, err
	}
	if _, err := rand.Read(in.Key[:]); err != nil {
		return liabilities.Snapshot{}, ph, fmt.Errorf("nonce key: %w", err)
	}
	ph.Rows, start = time.Since(start), time.Now()
	tree, err := sumtree.Build(in)
	if err != nil {
		return liabilities.Snapshot{}, ph, err
	}
	ph.Tree, start = time.Since(start), time.Now()
	id, err := liabilities.Save(ctx, conn, liabilities.New{TakenAt: c.TakenAt, LastEntryID: c.LastEntryID,
		RequestedBy: c.RequestedBy, Key: in.Key, Tree: tree, Accounts: accounts})
	if err != nil {
		return liabilities.Snapshot{}, ph, err
	}
	ph.Save = time.Since(start)
	return liabilities.Snapshot{ID: id, TakenAt: c.TakenAt, LastEntryID: c.LastEntryID, Accounts: int64(tree.Len()), RootHash: tree.Root()}, ph, nil
}

// customerRows makes one row per customer account holding anything: its
// user, and its balance of every asset in the asset's smallest unit. The
// copy and the customer accounts are both walked in account order, so no
// map of a million accounts is needed. Accounts that are not customers'
// (the fee account) are left out: they are the exchange's own, not a
// liability.
func customerRows(ctx context.Context, conn *pgx.Conn, c *sequencer.Capture) (sumtree.Input, []int64, error) {
	in := sumtree.Input{TakenAt: c.TakenAt}
	scale := make([]money.Amount, len(c.Assets))
	for i, a := range c.Assets {
		in.Assets = append(in.Assets, sumtree.Asset{Symbol: a.Symbol, Precision: a.Precision})
		scale[i] = 1
		for range money.Scale - a.Precision {
			scale[i] *= 10
		}
	}
	all := c.Balances
	c.Balances = nil
	slices.SortFunc(all, func(x, y sequencer.CapturedBalance) int {
		return cmp.Or(cmp.Compare(x.Account, y.Account), cmp.Compare(x.Asset, y.Asset))
	})
	holders := 0
	for i := range all {
		if i == 0 || all[i].Account != all[i-1].Account {
			holders++
		}
	}
	a := len(c.Assets)
	in.UserIDs, in.Balances = make([]int64, 0, holders), make([]int64, 0, holders*a)
	accounts := make([]int64, 0, holders)
	next := 0
	var bad error
	err := liabilities.Customers(ctx, conn, func(account, user int64) {
		for next < len(all) && all[next].Account < account {
			next++ // not a customer's
		}
		if next == len(all) || all[next].Account != account || bad != nil {
			return
		}
		row := len(in.UserIDs)
		in.UserIDs, accounts = append(in.UserIDs, user), append(accounts, account)
		in.Balances = append(in.Balances, make([]int64, a)...)
		for ; next < len(all) && all[next].Account == account; next++ {
			cb := all[next]
			s := scale[cb.Asset]
			if cb.Total < 0 || cb.Total%s != 0 {
				bad = fmt.Errorf("account %d holds %s %s, not a whole number of its smallest unit, or negative",
					account, cb.Total, c.Assets[cb.Asset].Symbol)
				return
			}
			in.Balances[row*a+int(cb.Asset)] = int64(cb.Total / s)
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return in, nil, err
	}
	return in, accounts, nil
}

func (b *Builder) prune(ctx context.Context) {
	conn, err := pgx.Connect(ctx, b.databaseURL)
	if err == nil {
		defer conn.Close(context.WithoutCancel(ctx))
		var n int
		if n, err = liabilities.Prune(ctx, conn, time.Now().Add(-b.retention)); err == nil && n > 0 {
			b.log.Info("proof of liabilities: old proofs pruned", "snapshots", n)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Warn("proof of liabilities: prune old proofs", "error", err.Error())
	}
}
