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

// pipeline overlaps the three parts of group commit. While one batch's
// writes and commit are on the lock's connection, the commands that
// arrive meanwhile are applied in memory to the next batch, which is
// sealed and sent the moment the first has committed; and the flusher
// waits, on another connection, for committed batches to be durable.
// Measured, the database sat idle while the leader applied, sealed and
// encoded a batch, the leader sat idle while the database wrote it, and
// the lock's connection sat idle while the log was flushed.
//
// Memory runs at most one batch ahead of what is committed, and only in
// a way a failure undoes: a batch that fails takes the one filled behind
// it down too (its commands were applied on top of the failed one's),
// both are answered ErrUnavailable, and the state is rebuilt from the
// database, as after any failed batch. Answers still go out only after
// their own batch is durable, and a batch is sent only after the one
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
	// unflushed counts those committed and with the flusher; free holds
	// answered stages for reuse.
	cur, flying *stage
	fl          *flusher
	unflushed   int
	free        []*stage
	ids         *idPools
	// idPrefix and sent name each batch's events, for this replica's feed
	// (Published): a prefix unique to this leadership, then a count.
	idPrefix string
	sent     uint64
}

// stage is one batch on its way: what its commands changed, the requests
// and their results, its events' notifications, and, once sent, the
// outcome of its commit.
type stage struct {
	id      string // names its events (Published)
	b       *batch
	reqs    []*request
	results []Result
	start   time.Time
	done    chan error
	// notices are the events' NOTIFY payloads, or the error encoding
	// them, once encoded is closed (encode).
	notices    []string
	noticesErr error
	encoded    chan struct{}
}

// encode makes the events' NOTIFY payloads on a goroutine of its own.
// Only the flush needs them, after the commit, so they are encoded while
// the batch is written instead of on the loop, between one batch's commit
// and the next one's writes: that gap is time the lock's connection sits
// idle. Events are not changed once sealed.
func (c *stage) encode(events Events) {
	c.encoded = make(chan struct{})
	go func() {
		c.notices, c.noticesErr = events.chunks(c.id)
		close(c.encoded)
	}()
}

// payloads waits for the NOTIFY payloads.
func (c *stage) payloads() ([]string, error) {
	<-c.encoded
	if c.noticesErr != nil {
		return nil, fmt.Errorf("encode the events of batch %s: %w", c.id, c.noticesErr)
	}
	return c.notices, nil
}

func newPipeline(ctx context.Context, s *Sequencer, conn *pgx.Conn, st *state, fl *flusher) *pipeline {
	p := &pipeline{s: s, conn: conn, ctx: context.WithoutCancel(ctx), st: st, fl: fl, ids: newIDPools(),
		idPrefix: strconv.FormatUint(rand.Uint64(), 36) + "."}
	p.cur = p.stage()
	return p
}

// stage hands out an empty stage, reusing an answered one's storage.
func (p *pipeline) stage() *stage {
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		return c
	}
	return &stage{b: &batch{ids: p.ids, sink: p.s.cfg.Snapshots}, done: make(chan error, 1)}
}

// recycle takes back an answered stage, once its payloads' encoding,
// which reads its events, is done.
func (p *pipeline) recycle(c *stage) {
	if c.encoded != nil {
		<-c.encoded
	}
	clear(c.reqs)
	c.reqs, c.results, c.notices, c.noticesErr, c.encoded = c.reqs[:0], c.results[:0], nil, nil, nil
	p.free = append(p.free, c)
}

// canSend reports whether the batch being filled may go out now: the
// connection is free and the flusher has room for it.
func (p *pipeline) canSend() bool {
	return p.flying == nil && len(p.cur.reqs) > 0 && p.unflushed < maxUnflushed
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
func (p *pipeline) send() {
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
	c.encode(events)
	q := b.writes(p.st.balances)
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
	p.flying, p.cur = c, p.stage()
}

// wait lets the batch under way, if any, land.
func (p *pipeline) wait() error {
	if p.flying == nil {
		return nil
	}
	return p.finish(<-p.flying.done)
}

// finish handles the commit of the batch under way: once committed it
// goes to the flusher, to be answered when durable (durable); otherwise
// the failure. It returns an error that ends the leadership.
func (p *pipeline) finish(err error) error {
	f := p.flying
	p.flying = nil
	if err != nil {
		p.refuse(f)
		p.recycle(f)
		return p.rebuild(err)
	}
	if f.b.snap != nil {
		// Nothing was applied behind a snapshot's batch (the loop waits),
		// and it waited for its own flush, so memory is exactly what is
		// durable.
		f.b.snap.capture(f.b.sink, f.b.now)
	}
	p.handOver(f)
	return nil
}

// handOver gives a committed batch to the flusher.
func (p *pipeline) handOver(f *stage) {
	p.unflushed++
	p.fl.in <- f
}

// refuse answers a sent batch's callers ErrUnavailable and forgets its
// events: whether it committed, or is durable, is unknown.
func (p *pipeline) refuse(f *stage) {
	p.s.cfg.Published.drop(f.id)
	for _, r := range f.reqs {
		r.done <- response{err: ErrUnavailable}
	}
}

// durable answers a group of committed batches once the flusher is done
// with them. When their flush failed, whether they are durable is
// unknown: they are answered ErrUnavailable, and the returned error ends
// the leadership, whose successor rebuilds from what the database kept.
func (p *pipeline) durable(r flushed) error {
	p.unflushed -= len(r.stages)
	for _, f := range r.stages {
		p.answer(f, r.err)
	}
	return r.err
}

// answer tells a committed batch's callers its outcome: their results, or
// ErrUnavailable when its flush failed.
func (p *pipeline) answer(f *stage, flushErr error) {
	defer p.recycle(f)
	if flushErr != nil {
		p.refuse(f)
		return
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
}

// settle waits until every committed batch is answered.
func (p *pipeline) settle() error {
	for p.unflushed > 0 {
		if err := p.durable(<-p.fl.out); err != nil {
			return err
		}
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
				return p.settle()
			}
			if err := p.add(reqs); err != nil {
				return err
			}
			continue
		}
		if p.unflushed >= maxUnflushed {
			if err := p.durable(<-p.fl.out); err != nil {
				return err
			}
			continue
		}
		p.send()
	}
}

// abandon, as the leadership ends, lets a batch under way land and the
// flusher finish, and answers every command not yet answered: with its
// result when its batch is durable, otherwise ErrUnavailable, as whether
// it committed is unknown to the callers.
func (p *pipeline) abandon() {
	if p.flying != nil {
		f := p.flying
		p.flying = nil
		if err := <-f.done; err == nil {
			// Committed: its events are published, as every committed
			// batch's are, if the flush still can be.
			p.handOver(f)
		} else {
			p.refuse(f)
		}
	}
	p.fl.stop(p.ctx, func(r flushed) { _ = p.durable(r) })
	for _, r := range p.cur.reqs {
		r.done <- response{err: ErrUnavailable}
	}
	p.cur.reqs = nil
}
