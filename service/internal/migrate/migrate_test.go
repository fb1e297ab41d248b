package migrate_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/crypto-exchange/exchange/service/internal/migrate"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openEmpty(t *testing.T) *sql.DB {
	db, err := sql.Open("pgx", pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Several pods start at once; the advisory lock must make exactly one apply.
func TestConcurrentUpAppliesOnce(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	const pods = 8
	var wg sync.WaitGroup
	applied := make([]int, pods)
	errs := make([]error, pods)
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = migrate.Up(ctx, db, quiet)
		}()
	}
	wg.Wait()
	total := 0
	for i := range pods {
		if errs[i] != nil {
			t.Fatalf("pod %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	all, _ := migrate.All()
	if total != len(all) {
		t.Fatalf("applied %d migrations in total, want %d (each exactly once)", total, len(all))
	}
	cur, err := migrate.Current(ctx, db)
	if err != nil || cur != migrate.Latest() {
		t.Fatalf("current = %d (%v), want %d", cur, err, migrate.Latest())
	}
	if n, err := migrate.Up(ctx, db, quiet); err != nil || n != 0 {
		t.Fatalf("second run applied %d (%v), want 0", n, err)
	}
}

func TestEditedMigrationIsRefused(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	if _, err := migrate.Up(ctx, db, quiet); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE schema_migrations SET checksum = 'deadbeefdeadbeef' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, db, quiet)
	if err == nil || !strings.Contains(err.Error(), "was changed after it was applied") {
		t.Fatalf("want a checksum error, got %v", err)
	}
}

func TestUnknownVersionIsRefused(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	if _, err := migrate.Up(ctx, db, quiet); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, db, quiet)
	if err == nil || !strings.Contains(err.Error(), "version 9999, which this binary does not know") {
		t.Fatalf("want an unknown-version error, got %v", err)
	}
}

func TestJournalIsAppendOnly(t *testing.T) {
	db := openEmpty(t)
	if _, err := migrate.Up(context.Background(), db, quiet); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO journal_entries (kind) VALUES ('test')"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec("UPDATE journal_entries SET memo = 'rewritten'")
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of the journal must fail, got %v", err)
	}
	if _, err := db.Exec("DELETE FROM journal_entries"); err == nil {
		t.Fatal("delete from the journal must fail")
	}
}

// Every index on a table the sequencer writes per order costs each order
// an insertion (40 % of the writing backend's CPU, measured), so each one
// here is named with the reads it serves. An index added to these tables
// fails this test until it is listed with its reader.
func TestOrderPathTablesIndexOnlyWhatIsRead(t *testing.T) {
	db := openEmpty(t)
	if _, err := migrate.Up(context.Background(), db, quiet); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"journal_entries_pkey":         "journal_entries USING btree (id)",                                                                     // proofs' positions, check-ledger joins
		"orders_pkey":                  "orders USING btree (id)",                                                                              // the sequencer's updates, GET by id
		"orders_user_idx":              "orders USING btree (user_id, id)",                                                                     // a trader's orders, newest first
		"orders_open_idx":              "orders USING btree (market, id) WHERE (status = ANY (ARRAY['open'::text, 'partially_filled'::text]))", // books at leadership and feed start
		"orders_client_order_id_key":   "orders USING btree (user_id, client_order_id) WHERE (client_order_id IS NOT NULL)",                    // uniqueness, lookup by client id
		"orders_recent_client_ids_idx": "orders USING btree (created_at) WHERE (client_order_id IS NOT NULL)",                                  // retries remembered at leadership
		"trades_pkey":                  "trades USING btree (id)",                                                                              // newest trades, ids at leadership
		"trades_market_idx":            "trades USING btree (market, id)",                                                                      // a market's recent trades
		"trades_maker_user_idx":        "trades USING btree (maker_user_id, id)",                                                               // a trader's fills
		"trades_taker_user_idx":        "trades USING btree (taker_user_id, id)",                                                               // a trader's fills
		"trades_time_brin":             "trades USING brin (created_at)",                                                                       // 24h statistics, candles
		"balances_pkey":                "balances USING btree (account_id, asset)",                                                             // the batch's upsert
	}
	rows, err := db.Query(`SELECT indexname, indexdef FROM pg_indexes
		WHERE tablename IN ('orders', 'trades', 'journal_entries', 'journal_legs', 'balances')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		got[name] = true
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: an index on a table every order writes, with no reader listed here: %s", name, def)
			continue
		}
		if _, on, _ := strings.Cut(def, " ON public."); on != w {
			t.Errorf("%s is %q, want %q", name, def, w)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if !got[name] {
			t.Errorf("%s is missing", name)
		}
	}
}
