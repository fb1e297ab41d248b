package ledger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// Invariant is one property the books must always have, as a query that
// returns the rows violating it (at most a sample of them).
type Invariant struct {
	ID    string // short, for metric labels
	Name  string
	Query string
}

// Invariants are what `exchange check-ledger`, the backup verification and
// the tests prove. Each query returns one text column describing a violation.
var Invariants = []Invariant{
	{"entries_balance", "every entry balances per asset", `
		SELECT format('entry %s: %s legs sum to %s', entry_id, asset, sum(amount))
		FROM journal_legs GROUP BY entry_id, asset HAVING sum(amount) <> 0 LIMIT 20`},
	{"assets_sum_to_zero", "every asset's balances sum to zero", `
		SELECT format('%s: balances sum to %s', asset, sum(available + held))
		FROM balances GROUP BY asset HAVING sum(available + held) <> 0 LIMIT 20`},
	{"balances_match_journal", "balances equal the sum of their journal legs", `
		WITH legs AS (
			SELECT account_id, asset,
			       coalesce(sum(amount) FILTER (WHERE bucket = 'available'), 0) AS available,
			       coalesce(sum(amount) FILTER (WHERE bucket = 'held'), 0) AS held
			FROM journal_legs GROUP BY account_id, asset)
		SELECT format('account %s %s: balance %s/%s, journal %s/%s', coalesce(b.account_id, l.account_id), coalesce(b.asset, l.asset),
		              coalesce(b.available, 0), coalesce(b.held, 0), coalesce(l.available, 0), coalesce(l.held, 0))
		FROM balances b FULL JOIN legs l USING (account_id, asset)
		WHERE coalesce(b.available, 0) <> coalesce(l.available, 0) OR coalesce(b.held, 0) <> coalesce(l.held, 0)
		LIMIT 20`},
	{"references_exist", "journal legs, orders and trades reference what exists", `
		SELECT format('journal leg of entry %s (account %s, %s) references nothing', l.entry_id, l.account_id, l.asset)
		FROM journal_legs l
		WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = l.entry_id)
		   OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = l.account_id)
		   OR NOT EXISTS (SELECT 1 FROM assets s WHERE s.symbol = l.asset)
		UNION ALL
		SELECT format('order %s references a missing user, account or market', o.id)
		FROM orders o
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = o.account_id AND a.user_id = o.user_id)
		   OR NOT EXISTS (SELECT 1 FROM markets m WHERE m.name = o.market)
		UNION ALL
		SELECT format('trade %s references a missing order', t.id)
		FROM trades t
		WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.maker_order_id AND o.user_id = t.maker_user_id)
		   OR NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.taker_order_id AND o.user_id = t.taker_user_id)
		LIMIT 20`},
	{"no_negative_balance", "no balance is negative", `
		SELECT format('account %s %s: available %s, held %s', account_id, asset, available, held)
		FROM balances WHERE account_id <> 1 AND (available < 0 OR held < 0) LIMIT 20`},
	{"held_matches_reservations", "held funds equal open reservations", `
		WITH reservations AS (
			SELECT a.id AS account_id, w.asset, w.amount
			FROM withdrawals w JOIN accounts a ON a.user_id = w.user_id
			WHERE w.status = 'pending'
			UNION ALL
			-- An open buy reserves price x unfilled quantity of the quote
			-- asset; an open sell, its unfilled quantity of the base.
			SELECT o.account_id,
			       CASE o.side WHEN 'buy' THEN m.quote ELSE m.base END,
			       CASE o.side WHEN 'buy' THEN o.price * (o.quantity - o.filled_quantity) ELSE o.quantity - o.filled_quantity END
			FROM orders o JOIN markets m ON m.name = o.market
			WHERE o.status IN ('open', 'partially_filled')),
		reserved AS (SELECT account_id, asset, sum(amount) AS amount FROM reservations GROUP BY account_id, asset)
		SELECT format('account %s %s: held %s, reserved %s', coalesce(b.account_id, r.account_id), coalesce(b.asset, r.asset),
		              coalesce(b.held, 0), coalesce(r.amount, 0))
		FROM balances b FULL JOIN reserved r USING (account_id, asset)
		WHERE coalesce(b.held, 0) <> coalesce(r.amount, 0)
		LIMIT 20`},
	{"liabilities_match_journal", "every proof-of-liabilities snapshot's totals equal the customers' journal balances at its position", `
		-- One pass over the journal for every snapshot: a leg counts for
		-- each snapshot at or after its entry, so it is put in the bucket
		-- of the positions before its entry, and a snapshot adds up the
		-- buckets below its own. Customers are accounts of kind 'user'.
		WITH pos AS (
			SELECT coalesce(array_agg(DISTINCT last_entry_id ORDER BY last_entry_id), '{}') AS a FROM liability_snapshots),
		buckets AS (
			SELECT width_bucket(l.entry_id - 1, pos.a) AS j, l.asset, sum(l.amount) AS amount
			FROM pos, journal_legs l JOIN accounts ac ON ac.id = l.account_id AND ac.kind = 'user'
			WHERE cardinality(pos.a) > 0 AND l.entry_id <= pos.a[cardinality(pos.a)]
			GROUP BY 1, 2),
		ledger AS (
			SELECT pos.a[k] AS position, b.asset, sum(b.amount) AS total
			FROM pos, generate_subscripts(pos.a, 1) AS k, buckets b
			WHERE b.j < k
			GROUP BY 1, 2),
		checks AS (
			SELECT s.id, s.last_entry_id, t.asset FROM liability_snapshots s JOIN liability_totals t ON t.snapshot_id = s.id
			UNION
			SELECT s.id, s.last_entry_id, l.asset FROM liability_snapshots s JOIN ledger l ON l.position = s.last_entry_id)
		SELECT format('snapshot %s %s: published %s, journal %s up to entry %s', c.id, c.asset,
		              coalesce(t.total, 0), coalesce(l.total, 0), c.last_entry_id)
		FROM checks c
		LEFT JOIN liability_totals t ON t.snapshot_id = c.id AND t.asset = c.asset
		LEFT JOIN ledger l ON l.position = c.last_entry_id AND l.asset = c.asset
		WHERE coalesce(t.total, 0) <> coalesce(l.total, 0)
		LIMIT 20`},
	{"liabilities_leaves_match_totals", "the newest snapshot's leaves are customers, none negative, and add up to its totals", `
		WITH s AS (SELECT id, account_count FROM liability_snapshots WHERE pruned_at IS NULL ORDER BY id DESC LIMIT 1),
		totals AS (SELECT t.* FROM liability_totals t JOIN s ON s.id = t.snapshot_id),
		sums AS (
			SELECT u.ordinal, sum(u.units) AS units, count(*) FILTER (WHERE u.units < 0) AS negative
			FROM s JOIN liability_leaves l ON l.snapshot_id = s.id, unnest(l.amounts) WITH ORDINALITY AS u(units, ordinal)
			GROUP BY u.ordinal)
		SELECT format('snapshot %s %s: leaves add up to %s (%s negative), published total %s', t.snapshot_id, t.asset,
		              coalesce(sums.units, 0), coalesce(sums.negative, 0), trunc(t.total * power(10::numeric, t.precision)))
		FROM totals t LEFT JOIN sums ON sums.ordinal = t.ordinal
		WHERE coalesce(sums.units, 0) <> trunc(t.total * power(10::numeric, t.precision)) OR coalesce(sums.negative, 0) > 0
		UNION ALL
		SELECT format('snapshot %s: %s leaves for %s accounts published', s.id, count(l.leaf_index), s.account_count)
		FROM s LEFT JOIN liability_leaves l ON l.snapshot_id = s.id
		GROUP BY s.id, s.account_count HAVING count(l.leaf_index) <> s.account_count
		UNION ALL
		SELECT format('snapshot %s leaf %s: account %s of user %s is not a customer account, or has %s amounts for %s assets',
		              s.id, l.leaf_index, l.account_id, l.user_id, cardinality(l.amounts), (SELECT count(*) FROM totals))
		FROM s JOIN liability_leaves l ON l.snapshot_id = s.id
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = l.account_id AND a.kind = 'user' AND a.user_id = l.user_id)
		   OR cardinality(l.amounts) <> (SELECT count(*) FROM totals)
		LIMIT 20`},
}

// Violation is one failed invariant with a sample of offending rows.
type Violation struct {
	Invariant string
	Samples   []string
}

// Check runs every invariant in one repeatable-read snapshot, so a check on
// a live database sees one consistent moment.
func Check(ctx context.Context, db *gorm.DB) ([]Violation, error) {
	var out []Violation
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").Error; err != nil {
			return err
		}
		for _, inv := range Invariants {
			var samples []string
			if err := tx.Raw(inv.Query).Scan(&samples).Error; err != nil {
				return fmt.Errorf("check %q: %w", inv.Name, err)
			}
			if len(samples) > 0 {
				out = append(out, Violation{Invariant: inv.Name, Samples: samples})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger check: %w", err)
	}
	return out, nil
}

// WriteReport prints one line per invariant, with samples under failures.
func WriteReport(w io.Writer, violations []Violation) {
	failed := map[string]Violation{}
	for _, v := range violations {
		failed[v.Invariant] = v
	}
	for _, inv := range Invariants {
		v, bad := failed[inv.Name]
		if !bad {
			fmt.Fprintf(w, "ok    %s\n", inv.Name)
			continue
		}
		fmt.Fprintf(w, "FAIL  %s\n", inv.Name)
		for _, s := range v.Samples {
			fmt.Fprintf(w, "      %s\n", strings.TrimSpace(s))
		}
	}
}

// Monitor runs the check now and then on the replica that leads (one
// replica is enough, and the check reads every journal leg) and exports
// the outcome, so an alert fires when the books stop balancing.
type Monitor struct {
	db         *gorm.DB
	log        *slog.Logger
	violations *prometheus.GaugeVec
	lastRun    prometheus.Gauge
	duration   prometheus.Gauge
}

// NewMonitor registers the check's metrics.
func NewMonitor(db *gorm.DB, log *slog.Logger, reg prometheus.Registerer) *Monitor {
	m := &Monitor{
		db:  db,
		log: log,
		violations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "exchange_ledger_check_violations", Help: "Rows violating each ledger invariant at the last check (sampled up to 20).",
		}, []string{"invariant"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_ledger_check_last_run_timestamp_seconds", Help: "When this replica last completed a ledger check.",
		}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_ledger_check_duration_seconds", Help: "How long the last ledger check took.",
		}),
	}
	reg.MustRegister(m.violations, m.lastRun, m.duration)
	return m
}

// Run checks every interval while leading() says this replica leads.
func (m *Monitor) Run(ctx context.Context, interval time.Duration, leading func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !leading() {
			continue
		}
		start := time.Now()
		v, err := Check(ctx, m.db)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("ledger check", "error", err.Error())
			}
			continue
		}
		found := map[string]int{}
		for _, x := range v {
			for _, inv := range Invariants {
				if inv.Name == x.Invariant {
					found[inv.ID] = len(x.Samples)
				}
			}
		}
		for _, inv := range Invariants {
			m.violations.WithLabelValues(inv.ID).Set(float64(found[inv.ID]))
		}
		m.lastRun.SetToCurrentTime()
		m.duration.Set(time.Since(start).Seconds())
		if len(v) > 0 {
			m.log.Error("ledger invariants violated", "violated", len(v))
		}
	}
}
