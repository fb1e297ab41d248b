package database

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// Reads hands out the pool for reads that tolerate a little lag (order
// and fill history, candles, trade history, admin lists): a streaming
// replica while it is up and close behind the primary, the primary
// otherwise. Whatever must see its own write (a balance after an order,
// the order just placed) uses the primary directly, never this.
type Reads struct {
	primary, replica *gorm.DB
	maxLag           time.Duration
	log              *slog.Logger
	// usable is whether DB may hand out the replica now; lag is the last
	// measured lag in nanoseconds.
	usable  atomic.Bool
	lag     atomic.Int64
	metrics *readMetrics
}

// PrimaryReads serves every read from the primary: no replica configured.
func PrimaryReads(primary *gorm.DB) *Reads {
	return &Reads{primary: primary, metrics: newReadMetrics(nil)}
}

// NewReads routes lag-tolerant reads to replica (opened from
// DATABASE_READ_URL) while its lag stays within maxLag; Run measures it.
func NewReads(primary, replica *gorm.DB, maxLag time.Duration, log *slog.Logger, reg prometheus.Registerer) *Reads {
	return &Reads{primary: primary, replica: replica, maxLag: maxLag, log: log, metrics: newReadMetrics(reg)}
}

// DB is the pool for one lag-tolerant read.
func (r *Reads) DB() *gorm.DB {
	if r.replica != nil && r.usable.Load() {
		r.metrics.reads.WithLabelValues("replica").Inc()
		return r.replica
	}
	r.metrics.reads.WithLabelValues("primary").Inc()
	return r.primary
}

// replicaCheckEvery is how often the replica's position is compared with
// the primary's: the lag it measures is exact to about this much.
const replicaCheckEvery = 500 * time.Millisecond

// Run measures the replica's lag until ctx ends: how long ago the primary
// had written no more than the replica has replayed by now. Unlike the age
// of the last replayed transaction it stays zero on an idle primary, and
// it grows when replay stops, whatever the cause. It is exact to the
// sampling interval.
func (r *Reads) Run(ctx context.Context) {
	if r.replica == nil {
		return
	}
	var samples []lsnSample // the primary's positions, oldest first
	t := time.NewTicker(replicaCheckEvery)
	defer t.Stop()
	for {
		lag, err := r.measure(ctx, &samples)
		if err != nil {
			if r.usable.Swap(false) {
				r.log.Warn("read replica unreachable; reads go to the primary", "error", err.Error())
			}
			r.metrics.up.Set(0)
		} else {
			// The choice first, then what is published: a lag seen in the
			// metrics is already the one reads follow.
			usable := lag <= r.maxLag
			was := r.usable.Swap(usable)
			r.lag.Store(int64(lag))
			r.metrics.up.Set(1)
			r.metrics.lag.Set(lag.Seconds())
			if was != usable {
				r.log.Info("read replica", "in_use", usable, "lag_seconds", lag.Seconds(), "max_lag_seconds", r.maxLag.Seconds())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lsnSample is the primary's write position at a moment.
type lsnSample struct {
	at  time.Time
	lsn uint64
}

// maxSamples bounds the history: lags longer than it reads as its length.
const maxSamples = 7200 // an hour at replicaCheckEvery

// measure samples the primary's position, then the replica's, and finds
// the newest moment at which the primary had not written past what the
// replica has replayed.
func (r *Reads) measure(ctx context.Context, samples *[]lsnSample) (time.Duration, error) {
	written, replayed, err := r.positions(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	*samples = append(*samples, lsnSample{at: now, lsn: written})
	if len(*samples) > maxSamples {
		*samples = (*samples)[len(*samples)-maxSamples:]
	}
	s := *samples
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].lsn <= replayed {
			// Older samples can never be needed again.
			*samples = s[i:]
			return now.Sub(s[i].at), nil
		}
	}
	return now.Sub(s[0].at), nil
}

// Lag is the replica's last measured lag.
func (r *Reads) Lag() time.Duration { return time.Duration(r.lag.Load()) }

// positions reads the primary's write position, then the replica's replay
// position.
func (r *Reads) positions(ctx context.Context) (written, replayed uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var w string
	if err := r.primary.WithContext(ctx).Raw("SELECT pg_current_wal_lsn()::text").Scan(&w).Error; err != nil {
		return 0, 0, fmt.Errorf("primary position: %w", err)
	}
	var replica struct {
		InRecovery bool
		Replayed   *string
	}
	if err := r.replica.WithContext(ctx).Raw("SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed").
		Scan(&replica).Error; err != nil {
		return 0, 0, fmt.Errorf("replica position: %w", err)
	}
	if !replica.InRecovery || replica.Replayed == nil {
		// A promoted or misconfigured server is no replica of this primary.
		return 0, 0, fmt.Errorf("DATABASE_READ_URL is not a streaming replica (in recovery: %v)", replica.InRecovery)
	}
	if written, err = parseLSN(w); err != nil {
		return 0, 0, err
	}
	if replayed, err = parseLSN(*replica.Replayed); err != nil {
		return 0, 0, err
	}
	return written, replayed, nil
}

// parseLSN reads PostgreSQL's "X/Y" write-ahead log position.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed WAL position %q", s)
	}
	return h<<32 | l, nil
}

type readMetrics struct {
	reads   *prometheus.CounterVec
	lag, up prometheus.Gauge
}

func newReadMetrics(reg prometheus.Registerer) *readMetrics {
	m := &readMetrics{
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchange_db_lag_tolerant_reads_total", Help: "Reads that tolerate replica lag, by the pool that served them (replica or primary).",
		}, []string{"pool"}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_db_replica_lag_seconds", Help: "How long ago the read replica last had replayed all the primary had written (0 while caught up).",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_db_replica_up", Help: "1 while the read replica answers as a streaming replica, 0 otherwise.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.reads, m.lag, m.up)
	}
	return m
}
