package sequencer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

// A leader plans its batch statements once and keeps the plans. Planned on
// empty tables, as a new exchange's first leader plans them, with the
// batch's own settings, none may scan a table: the order update did, and
// cost 1.3 ms a row once the table had grown (docs/performance.md).
func TestBatchStatementsFindRowsByKey(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// A batch with a row of every kind the order path writes.
	b := &batch{}
	b.reset(time.Now())
	price, qty := money.MustParse("30000"), money.MustParse("0.01")
	o := &orders.Order{ID: 1, UserID: 2, AccountID: 3, Market: "BTC-USDT", Side: engine.Buy, Type: engine.Limit,
		TimeInForce: engine.GTC, Price: &price, Quantity: &qty, Status: orders.StatusOpen}
	b.orders.Placed(o)
	earlier := *o
	earlier.ID, earlier.Status, earlier.CancelReason = 0, orders.StatusCancelled, orders.CancelUser
	b.orders.Changed(&earlier)
	b.orders.Traded(orders.Trade{Trade: engine.Trade{Price: price, Quantity: qty, Quote: price}, ID: 1, Market: "BTC-USDT"})
	legs := []risk.Leg{{Account: 3, Asset: "USDT", Bucket: risk.Available, Amount: -price}, {Account: 3, Asset: "USDT", Bucket: risk.Held, Amount: price}}
	b.ledger.Post(1, ledger.Entry{Kind: "order", Legs: legs})
	balances := risk.NewBalances()
	if err := balances.Apply([]risk.Leg{{Account: 3, Asset: "USDT", Bucket: risk.Available, Amount: price}}); err != nil {
		t.Fatal(err)
	}
	b.markets.SetSequence("BTC-USDT", 1)
	q := b.writes(balances)

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// A few rows, analyzed: autovacuum analyzes a new exchange's tables
	// while they are small, and that replans the cached statements.
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, user_id, account_id, market, side, type, time_in_force, price, quantity, status, created_at, updated_at)
		SELECT i, 1, 1, 'BTC-USDT', 'buy', 'limit', 'GTC', 1, 1, 'open', now(), now() FROM generate_series(1, 20) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	// Plans as a cached statement gets them, under the lock connection's
	// settings and the batch's own.
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	for k, v := range joinSettings() {
		if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", k, v); err != nil {
			t.Fatal(err)
		}
	}
	checked := 0
	for _, qq := range q.QueuedQueries {
		switch word, _, _ := strings.Cut(strings.TrimSpace(qq.SQL), " "); word {
		case "SET":
			if _, err := tx.Exec(ctx, qq.SQL, qq.Arguments...); err != nil {
				t.Fatal(err)
			}
		case "INSERT", "UPDATE":
			var plan strings.Builder
			rows, err := tx.Query(ctx, "EXPLAIN "+qq.SQL, qq.Arguments...)
			if err != nil {
				t.Fatalf("%s: %v", qq.SQL, err)
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan.WriteString(line + "\n")
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(plan.String(), "Seq Scan") {
				t.Errorf("a batch statement scans a table:\n%s\n%s", qq.SQL, plan.String())
			}
			checked++
		}
	}
	if checked < 6 {
		t.Fatalf("only %d statements checked", checked)
	}
}
