package proofs

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/liabilities"
)

// Schedule asks for a snapshot whenever this replica leads and the newest
// published one is older than every. It decides from the database, not
// from a timer of its own, so a restart or a failover neither skips a
// snapshot nor takes two; a snapshot being built, or a failure in the
// last ten minutes, waits. It also exports the newest snapshot's
// publication time, so the alert sees it from whichever replica leads.
func (b *Builder) Schedule(ctx context.Context, svc *Service, every time.Duration, leading func() bool) {
	b.metrics.interval.Set(every.Seconds())
	check := min(time.Minute, max(every/10, 50*time.Millisecond))
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		if leading() && !b.Busy() && time.Now().UnixNano() >= b.retryAt.Load() {
			b.due(ctx, svc, every)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Builder) due(ctx context.Context, svc *Service, every time.Duration) {
	latest, err := liabilities.Latest(ctx, svc.db)
	switch {
	case err == nil:
		b.metrics.lastSuccess.Set(float64(latest.PublishedAt.UnixNano()) / 1e9)
		if time.Since(latest.TakenAt) < every {
			return
		}
	case !errors.Is(err, liabilities.ErrNotFound):
		if ctx.Err() == nil {
			b.log.Warn("proof of liabilities: read the newest snapshot", "error", err.Error())
		}
		return
	}
	if _, err := svc.TakeSnapshot(ctx, 0); err != nil {
		if e, ok := apierr.As(err); ok && e.Code == apierr.Conflict {
			return // one is being built: it counts
		}
		b.retryAt.Store(time.Now().Add(failureBackoff).UnixNano())
		if ctx.Err() == nil {
			b.log.Warn("proof of liabilities: scheduled snapshot not taken", "error", err.Error())
		}
	}
}

type metrics struct {
	lastSuccess prometheus.Gauge
	duration    prometheus.Gauge
	pause       prometheus.Gauge
	accounts    prometheus.Gauge
	interval    prometheus.Gauge
	failures    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_liabilities_snapshot_last_success_timestamp_seconds",
			Help: "When the newest proof-of-liabilities snapshot was published (set by the leader).",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_liabilities_snapshot_duration_seconds",
			Help: "How long the last snapshot took from the leader's copy to its publication (tree and tables).",
		}),
		pause: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_liabilities_snapshot_pause_seconds",
			Help: "How long copying the balances for the last snapshot held up the sequencer's batch loop.",
		}),
		accounts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_liabilities_snapshot_accounts",
			Help: "Accounts (leaves) in the last snapshot this replica published.",
		}),
		interval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_liabilities_snapshot_interval_seconds",
			Help: "PROOF_SNAPSHOT_INTERVAL: how often the leader takes a snapshot.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "exchange_liabilities_snapshot_failures_total",
			Help: "Snapshots copied by the leader but not published.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.lastSuccess, m.duration, m.pause, m.accounts, m.interval, m.failures)
	}
	return m
}
