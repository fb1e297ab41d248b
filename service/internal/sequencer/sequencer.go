package sequencer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// leaderLockKey is the advisory lock whose holder is the sequencer.
const leaderLockKey int64 = 0x73657175656e6365 // "sequence"

// Config tunes the sequencer.
type Config struct {
	// DatabaseURL is the DSN for the leader's dedicated connection.
	DatabaseURL string
	// MaxBatch bounds how many commands one transaction carries.
	MaxBatch int
	// Retry is how long a candidate whose connection broke (or a leader
	// that stepped down on an error) waits before campaigning again.
	Retry time.Duration
	// BatchTimeout bounds one batch's writes and commit: a database that
	// stops answering ends the leadership instead of holding it forever.
	BatchTimeout time.Duration
	// Snapshots builds proof-of-liabilities snapshots (nil: refused).
	Snapshots SnapshotSink
	// Published hands each batch's events to this replica's feed (nil:
	// the feed decodes its own leader's NOTIFY like any other).
	Published *Published
}

// Sequencer runs the election and, while leading, the batch loop.
type Sequencer struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	queue chan *request
	// term is the current stretch of leadership; nil while not leading.
	term atomic.Pointer[term]
	// advertise is the base URL other replicas use to reach this one; it
	// is known once the server listens, so Run sets it.
	advertise atomic.Pointer[string]
	metrics   *metrics
}

type request struct {
	ctx      context.Context
	cmd      Command
	done     chan response
	enqueued time.Time
	term     *term
}

// term is one stretch of leadership. A request belongs to the term it was
// queued in: its caller is told ErrNotLeader once the term ends without
// answering it, so a later term must never apply it.
type term struct{ ended chan struct{} }

type response struct {
	res Result
	err error
}

// New makes a sequencer; Run starts it.
func New(cfg Config, log *slog.Logger, now func() time.Time, reg prometheus.Registerer) *Sequencer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 10 * time.Second
	}
	return &Sequencer{
		cfg: cfg, log: log, now: now,
		queue:   make(chan *request, 4*cfg.MaxBatch),
		metrics: newMetrics(reg),
	}
}

// IsLeader reports whether this replica is the sequencer now.
func (s *Sequencer) IsLeader() bool { return s.term.Load() != nil }

// Submit applies cmd if this replica leads. ErrNotLeader means it was not
// applied, and never will be. Otherwise the command is applied exactly
// when err is nil; a ctx that ends first leaves the outcome unknown,
// reported as ErrUnavailable.
func (s *Sequencer) Submit(ctx context.Context, cmd Command) (Result, error) {
	t := s.term.Load()
	if t == nil {
		return Result{}, ErrNotLeader
	}
	req := &request{ctx: ctx, cmd: cmd, done: make(chan response, 1), enqueued: time.Now(), term: t}
	if err := s.enqueue(ctx, req); err != nil {
		return Result{}, err
	}
	return s.await(ctx, req)
}

// Answer is one command's outcome in SubmitAll, as Submit gives it.
type Answer struct {
	Result Result
	Err    error
}

// SubmitAll applies cmds as Submit applies each, from one caller: they are
// queued together, so they usually share a batch, and waited for in turn.
// A batch of orders from one request no longer costs a goroutine, a queue
// handoff and a wake-up per order (measured in docs/performance.md).
func (s *Sequencer) SubmitAll(ctx context.Context, cmds []Command) []Answer {
	out := make([]Answer, len(cmds))
	t := s.term.Load()
	if t == nil {
		for i := range out {
			out[i].Err = ErrNotLeader
		}
		return out
	}
	now := time.Now()
	reqs := make([]request, len(cmds))
	queued := len(cmds)
	for i := range cmds {
		reqs[i] = request{ctx: ctx, cmd: cmds[i], done: make(chan response, 1), enqueued: now, term: t}
		if err := s.enqueue(ctx, &reqs[i]); err != nil {
			for j := i; j < len(cmds); j++ {
				out[j].Err = err
			}
			queued = i
			break
		}
	}
	for i := range queued {
		out[i].Result, out[i].Err = s.await(ctx, &reqs[i])
	}
	return out
}

// enqueue hands req to the batch loop of its term.
func (s *Sequencer) enqueue(ctx context.Context, req *request) error {
	select {
	case s.queue <- req:
	case <-req.term.ended:
		return ErrNotLeader
	case <-ctx.Done():
		return ErrUnavailable
	}
	s.metrics.queueDepth.Set(float64(len(s.queue)))
	return nil
}

// await waits for a queued request's answer.
func (s *Sequencer) await(ctx context.Context, req *request) (Result, error) {
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-req.term.ended:
		// A term answers what it took before it ends: an answer sent is
		// waiting here now, and without one the command was never taken.
		select {
		case r := <-req.done:
			return r.res, r.err
		default:
			return Result{}, ErrNotLeader
		}
	case <-ctx.Done():
		return Result{}, ErrUnavailable
	}
}

// joinSettings are the lock connection's planner settings (campaign).
func joinSettings() map[string]string {
	return map[string]string{"enable_hashjoin": "off", "enable_mergejoin": "off"}
}

// Advertise is the URL this replica gives other replicas; empty before Run.
func (s *Sequencer) Advertise() string {
	if p := s.advertise.Load(); p != nil {
		return *p
	}
	return ""
}

// Run campaigns for leadership until ctx ends, leading whenever it holds
// the lock. advertise is the base URL other replicas reach this one at.
func (s *Sequencer) Run(ctx context.Context, advertise string) {
	s.advertise.Store(&advertise)
	// Retries start quick, so a database back from a restart has a leader
	// again at once, and slow down to Retry while it stays away.
	const firstRetry = 100 * time.Millisecond
	wait := firstRetry
	for ctx.Err() == nil {
		started := time.Now()
		err := s.campaign(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("sequencer: out of the running", "error", err.Error())
		if time.Since(started) > s.cfg.Retry {
			wait = firstRetry // it ran for a while: a new outage
		}
		sleep(ctx, wait)
		wait = min(2*wait, s.cfg.Retry)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// connConfig is the configuration of the leader's connections.
func (s *Sequencer) connConfig(application string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(s.cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// A leader whose machine vanishes must lose the lock in seconds, not
	// after the kernel's two-hour TCP keepalive.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "2"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "1"
	cfg.RuntimeParams["tcp_keepalives_count"] = "2"
	// Keepalives stay silent while sent data waits for an ack; a machine
	// that vanished mid-reply would otherwise hold the lock through ~15
	// minutes of retransmissions.
	cfg.RuntimeParams["tcp_user_timeout"] = "4000"
	cfg.RuntimeParams["application_name"] = application
	// A database that accepts connections but never answers (a frozen
	// machine) must not hold the candidate forever.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return cfg, nil
}

// campaign connects, waits for the lock, then leads until the connection
// fails or ctx ends. The lock lives and dies with this one connection, and
// every batch is written on it: once the lock is gone, so is the ability
// to commit.
func (s *Sequencer) campaign(ctx context.Context) error {
	cfg, err := s.connConfig("exchange-sequencer")
	if err != nil {
		return err
	}
	// The batch statements join arrays to tables by key. In a cached
	// generic plan Postgres cannot see the arrays' length and may pick a
	// hash join over a whole table (12 ms for an order update on a modest
	// table, measured). Nested loops over the keys are always right for
	// this connection's statements, and keeping plans cached saves their
	// planning: measured better than planning every statement afresh.
	for k, v := range joinSettings() {
		cfg.RuntimeParams[k] = v
	}
	// The candidate waits inside the database for the lock, however long
	// that takes: PostgreSQL hands it over the moment the leader releases
	// it or its connection dies, so a hand-off costs no polling interval.
	cfg.RuntimeParams["lock_timeout"] = "0"
	cfg.RuntimeParams["statement_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", leaderLockKey); err != nil {
		return fmt.Errorf("wait for the leader lock: %w", err)
	}
	return s.lead(ctx, conn)
}

func (s *Sequencer) lead(ctx context.Context, conn *pgx.Conn) error {
	// The flusher's connection first: a leader that could not make its
	// batches durable must not advertise itself.
	fcfg, err := s.connConfig("exchange-sequencer-flush")
	if err != nil {
		return err
	}
	fconn, err := pgx.ConnectConfig(ctx, fcfg)
	if err != nil {
		return fmt.Errorf("connect the flusher: %w", err)
	}
	defer fconn.Close(context.WithoutCancel(ctx)) // closed already, unless leading failed first
	start := time.Now()
	st, err := load(ctx, conn, s.now())
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	var epoch int64
	err = conn.QueryRow(ctx, `INSERT INTO sequencer_leader (address, epoch, elected_at) VALUES ($1, 1, $2)
		ON CONFLICT (singleton) DO UPDATE SET address = EXCLUDED.address, epoch = sequencer_leader.epoch + 1, elected_at = EXCLUDED.elected_at
		RETURNING epoch`, s.Advertise(), s.now()).Scan(&epoch)
	if err != nil {
		return fmt.Errorf("advertise leadership: %w", err)
	}
	s.log.Info("sequencer: leading", "epoch", epoch, "open_orders", len(st.open), "balances", st.balances.Len(),
		"rebuild_seconds", time.Since(start).Seconds(), "advertise", s.Advertise())
	t := &term{ended: make(chan struct{})}
	s.term.Store(t)
	s.metrics.leader.Set(1)
	defer func() {
		s.term.Store(nil)
		s.metrics.leader.Set(0)
		s.drain(ErrNotLeader)
		close(t.ended)
	}()

	p := newPipeline(ctx, s, conn, st, startFlusher(ctx, fconn, s.cfg.BatchTimeout))
	defer p.abandon()
	idle := time.NewTicker(time.Second)
	defer idle.Stop()
	forgotten := time.Now()
	reqs := make([]*request, 0, s.cfg.MaxBatch)
	for {
		// The batch filled while the last one committed goes out the
		// moment the connection is free.
		if p.canSend() {
			p.send()
		}
		var landed chan error
		var ping <-chan time.Time
		if p.flying != nil {
			landed = p.flying.done
		} else {
			ping = idle.C
		}
		queue := s.queue
		if len(p.cur.reqs) >= s.cfg.MaxBatch || (p.flying != nil && p.flying.b.snap != nil) {
			// Full; or the batch under way copies the balances for a
			// snapshot once it commits, which must see exactly them.
			queue = nil
		}
		select {
		case <-ctx.Done():
			// Stepping down (SIGTERM): take nothing new, commit and answer
			// what is under way and queued, then let the lock go with the
			// connection, so a waiting candidate leads at once.
			s.term.Store(nil)
			if err := p.stepDown(t); err != nil {
				return err
			}
			s.log.Info("sequencer: stepped down", "epoch", epoch)
			return ctx.Err()
		case <-ping:
			// Prove the connection (and so the lock) is still ours.
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				return fmt.Errorf("leader connection: %w", err)
			}
		case err := <-landed:
			if err := p.finish(err); err != nil {
				return err
			}
		case r := <-p.fl.out:
			if err := p.durable(r); err != nil {
				return err
			}
		case r := <-queue:
			// A batch under way finishes even when a stop is asked for: its
			// commands' callers wait for the outcome.
			reqs = s.take(append(reqs[:0], r), t, s.cfg.MaxBatch-len(p.cur.reqs))
			if err := p.add(reqs); err != nil {
				return err
			}
		}
		if p.flying == nil && len(p.cur.reqs) == 0 && time.Since(forgotten) > time.Minute {
			p.st.forget(s.now())
			forgotten = time.Now()
		}
	}
}

// take keeps the requests of term t among reqs and adds what is queued
// behind them, up to limit. A request of an earlier term is answered
// ErrNotLeader, as its caller was already told.
func (s *Sequencer) take(reqs []*request, t *term, limit int) []*request {
	kept := reqs[:0]
	for _, r := range reqs {
		if r.term == t {
			kept = append(kept, r)
		} else {
			r.done <- response{err: ErrNotLeader}
		}
	}
	for len(kept) < limit {
		select {
		case r := <-s.queue:
			if r.term != t {
				r.done <- response{err: ErrNotLeader}
				continue
			}
			kept = append(kept, r)
		default:
			return kept
		}
	}
	return kept
}

// drain answers every queued request with err.
func (s *Sequencer) drain(err error) {
	for {
		select {
		case r := <-s.queue:
			r.done <- response{err: err}
		default:
			return
		}
	}
}

var errNoLeader = errors.New("no sequencer leader is known")

type metrics struct {
	leader        prometheus.Gauge
	queueDepth    prometheus.Gauge
	lag           prometheus.Gauge
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	trades        *prometheus.CounterVec
	baseVolume    *prometheus.CounterVec
	quoteVolume   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_sequencer_leader", Help: "1 while this replica is the sequencer leader.",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_sequencer_queue_depth", Help: "Commands waiting for the sequencer on this replica.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_sequencer_lag_seconds", Help: "How long the oldest command of the latest batch waited in the queue.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "exchange_sequencer_batch_size", Help: "Commands per committed sequencer batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "exchange_sequencer_batch_seconds", Help: "Time from a batch's first command to its answer (committed and flushed).",
			// Fine between 5 and 100 ms, where the acknowledgement targets are.
			Buckets: []float64{.0005, .001, .0025, .005, .0075, .01, .015, .02, .025, .035, .05, .075, .1, .25, .5, 1},
		}),
		trades: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_trades_total", Help: "Trades committed, by market.",
		}, []string{"market"}),
		baseVolume: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_traded_base_volume_total", Help: "Traded quantity in the base asset, by market (for rates and dashboards; the ledger is exact).",
		}, []string{"market"}),
		quoteVolume: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_traded_quote_volume_total", Help: "Traded value in the quote asset, by market (for rates and dashboards; the ledger is exact).",
		}, []string{"market"}),
	}
	if reg != nil {
		reg.MustRegister(m.leader, m.queueDepth, m.lag, m.batchSize, m.commitSeconds, m.trades, m.baseVolume, m.quoteVolume)
	}
	return m
}
