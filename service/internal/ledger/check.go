package ledger

import (
	"context"
	"fmt"
	"io"
	"strings"

	"gorm.io/gorm"
)

// Invariant is one property the books must always have, as a query that
// returns the rows violating it (at most a sample of them).
type Invariant struct {
	Name  string
	Query string
}

// Invariants are what `exchange check-ledger`, the backup verification and
// the tests prove. Each query returns one text column describing a violation.
var Invariants = []Invariant{
	{"every entry balances per asset", `
		SELECT format('entry %s: %s legs sum to %s', entry_id, asset, sum(amount))
		FROM journal_legs GROUP BY entry_id, asset HAVING sum(amount) <> 0 LIMIT 20`},
	{"every asset's balances sum to zero", `
		SELECT format('%s: balances sum to %s', asset, sum(available + held))
		FROM balances GROUP BY asset HAVING sum(available + held) <> 0 LIMIT 20`},
	{"balances equal the sum of their journal legs", `
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
	{"journal legs, orders and trades reference what exists", `
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
	{"no balance is negative", `
		SELECT format('account %s %s: available %s, held %s', account_id, asset, available, held)
		FROM balances WHERE account_id <> 1 AND (available < 0 OR held < 0) LIMIT 20`},
	{"held funds equal open reservations", `
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
