package sequencer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/engine"
)

// pipeline overlaps the two halves of group commit. While one batch's
// writes and commit are on the lock's connection, the commands that
// arrive meanwhile are applied in memory to the next batch, which is
// sealed and sent the moment the first has committed. Measured, the
// database sat idle while the leader applied, sealed and encoded a batch,
// and the leader sat idle while the database wrote it.
//
// Memory runs at most one batch ahead of the database, and only in a way
// a failure undoes: a batch that fails takes the one filled behind it
// down too (its commands were applied on top of the failed one's), both
// are answered ErrUnavailable, and the state is rebuilt from the
// database, as after any failed batch. Answers still go out only after
// their own batch committed, and a batch is sent only after the one
// before it committed, so a leader that loses its connection has nothing
// of a later batch in the database.
type pipeline struct {
	s    *Sequencer
	conn *pgx.Conn
	// ctx outlives a stop request: a batch under way finishes, as its
	// commands' callers wait for the outcome.
	ctx context.Context
	st  *state
	ev  engine.Events
	// cur is the batch being filled; flying the one committing, or nil;
	// spare the other's storage, reused.
	cur, flying, spare *stage
	// idPrefix and sent name each batch's events, for this replica's feed
	// (Published): a prefix unique to this leadership, then a count.
	idPrefix string
	sent     uint64
}

// stage is one batch on its way: what its commands changed, the requests
// and their results, and, once sent, the outcome of its commit.
type stage struct {
	id      string // names its events (Published)
	b       *batch
	reqs    []*request
	results []Result
	start   time.Time
	done    chan error
}

func newPipeline(ctx context.Context, s *Sequencer, conn *pgx.Conn, st *state) *pipeline {
	ids := newIDPools()
	mk := func() *stage {
		return &stage{b: &batch{ids: ids, sink: s.cfg.Snapshots}, done: make(chan error, 1)}
	}
	return &pipeline{s: s, conn: conn, ctx: context.WithoutCancel(ctx), st: st, cur: mk(), spare: mk(),
		idPrefix: strconv.FormatUint(rand.Uint64(), 36) + "."}
}

// add applies reqs to the batch being filled. A client's error is its
// result; a fault fails the batch (fail).
func (p *pipeline) add(reqs []*request) error {
	cmds := make([]Command, len(reqs))
	for i, r := range reqs {
		cmds[i] = r.cmd
	}
	if p.cur.b.ids.lacks(cmds) {
		// Ids are reserved on the connection: wait for it to be free.
		if err := p.wait(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(p.ctx, p.s.cfg.BatchTimeout)
		err := p.cur.b.ids.ensure(ctx, p.conn, cmds)
		cancel()
		if err != nil {
			p.cur.reqs = append(p.cur.reqs, reqs...)
			return p.fail(err)
		}
	}
	c := p.cur
	if len(c.reqs) == 0 {
		c.start = time.Now()
		c.b.reset(timestamp(p.s.now))
	}
	for i, r := range reqs {
		res, err := p.st.apply(c.b, r.cmd, &p.ev)
		c.reqs, c.results = append(c.reqs, r), append(c.results, res)
		if err != nil {
			// The rest are answered with the batch.
			c.reqs = append(c.reqs, reqs[i+1:]...)
			return p.fail(err)
		}
	}
	return nil
}

// send seals the batch being filled and starts its writes and commit; the
// connection must be free. The other stage becomes the one being filled.
func (p *pipeline) send() error {
	c := p.cur
	b := c.b
	p.s.metrics.queueDepth.Set(float64(len(p.s.queue)))
	p.s.metrics.lag.Set(time.Since(c.reqs[0].enqueued).Seconds())
	events := b.events.seal(p.st, p.s.now().UTC())
	events.Transfers = transferEvents(&b.transfers)
	for _, d := range events.Books {
		b.markets.SetSequence(d.Market, d.Sequence)
	}
	p.sent++
	c.id = p.idPrefix + strconv.FormatUint(p.sent, 10)
	notices, err := events.chunks(c.id)
	if err != nil {
		return p.fail(err)
	}
	q := b.writes(p.st.balances, notices)
	p.s.cfg.Published.put(c.id, events)
	ctx, cancel := context.WithTimeout(p.ctx, p.s.cfg.BatchTimeout)
	go func() {
		defer cancel()
		err := p.conn.SendBatch(ctx, q).Close()
		if err != nil {
			err = fmt.Errorf("write batch: %w", err)
			rollback(ctx, p.conn)
		}
		c.done <- err
	}()
	p.flying, p.cur, p.spare = c, p.spare, nil
	return nil
}

// wait lets the batch under way, if any, land.
func (p *pipeline) wait() error {
	if p.flying == nil {
		return nil
	}
	return p.finish(<-p.flying.done)
}

// finish handles the outcome of the batch under way: answers once it
// committed; otherwise the failure. It returns an error that ends the
// leadership.
func (p *pipeline) finish(err error) error {
	f := p.flying
	p.flying, p.spare = nil, f
	defer func() { f.reqs, f.results = f.reqs[:0], f.results[:0] }()
	if err != nil {
		p.s.cfg.Published.drop(f.id)
		for _, r := range f.reqs {
			r.done <- response{err: ErrUnavailable}
		}
		return p.rebuild(err)
	}
	if f.b.snap != nil {
		// Nothing was applied behind a snapshot's batch (the loop waits),
		// so memory is exactly what committed.
		f.b.snap.capture(f.b.sink, f.b.now)
	}
	for i, r := range f.reqs {
		r.done <- response{res: f.results[i]}
	}
	m := p.s.metrics
	m.batchSize.Observe(float64(len(f.reqs)))
	m.commitSeconds.Observe(time.Since(f.start).Seconds())
	for _, t := range f.b.orders.Trades {
		m.trades.WithLabelValues(t.Market).Inc()
		m.baseVolume.WithLabelValues(t.Market).Add(t.Quantity.Float64())
		m.quoteVolume.WithLabelValues(t.Market).Add(t.Quote.Float64())
	}
	return nil
}

// fail handles a fault while filling or sealing a batch: the state holds
// changes that must not survive. The batch under way lands first (it may
// commit: it did not depend on this one), then this batch's commands are
// answered ErrUnavailable and the state is rebuilt from the database.
func (p *pipeline) fail(fault error) error {
	if p.flying != nil {
		if err := p.finish(<-p.flying.done); err != nil || len(p.cur.reqs) == 0 {
			// Its failure already answered this batch and rebuilt.
			return err
		}
	}
	return p.rebuild(fault)
}

// rebuild answers the batch being filled ErrUnavailable (its commands
// never reached the database, but were applied on top of what failed)
// and reloads the state. When the connection is gone, so is the lock:
// the error ends the leadership.
func (p *pipeline) rebuild(cause error) error {
	for _, r := range p.cur.reqs {
		r.done <- response{err: ErrUnavailable}
	}
	p.cur.reqs, p.cur.results = p.cur.reqs[:0], p.cur.results[:0]
	if p.conn.IsClosed() {
		return cause
	}
	p.s.log.Error("sequencer: batch failed; rebuilding from the database", "error", cause.Error())
	ctx, cancel := context.WithTimeout(p.ctx, p.s.cfg.BatchTimeout)
	defer cancel()
	st, err := load(ctx, p.conn, p.s.now())
	if err != nil {
		return fmt.Errorf("rebuild after failed batch: %w", err)
	}
	p.st = st
	return nil
}

// stepDown commits and answers what is under way, filled and queued for
// term t, until nothing is left.
func (p *pipeline) stepDown(t *term) error {
	reqs := make([]*request, 0, p.s.cfg.MaxBatch)
	for {
		if err := p.wait(); err != nil {
			return err
		}
		if len(p.cur.reqs) == 0 {
			if reqs = p.s.take(reqs[:0], t, p.s.cfg.MaxBatch); len(reqs) == 0 {
				return nil
			}
			if err := p.add(reqs); err != nil {
				return err
			}
			continue
		}
		if err := p.send(); err != nil {
			return err
		}
	}
}

// abandon, as the leadership ends, lets a batch under way land and
// answers every command not yet answered ErrUnavailable: whether it
// committed is unknown to the callers.
func (p *pipeline) abandon() {
	if p.flying != nil {
		<-p.flying.done
		for _, r := range p.flying.reqs {
			r.done <- response{err: ErrUnavailable}
		}
		p.flying = nil
	}
	for _, r := range p.cur.reqs {
		r.done <- response{err: ErrUnavailable}
	}
	p.cur.reqs = nil
}
