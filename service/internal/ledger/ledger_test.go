package ledger_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/risk"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var m = money.MustParse

func setup(t *testing.T) (*gorm.DB, string, int64) {
	url := pgtest.URL(t)
	db := pgtest.OpenURL(t, url)
	ctx := context.Background()
	if err := catalog.Seed(ctx, db, catalog.Defaults()); err != nil {
		t.Fatal(err)
	}
	var account int64
	if err := db.Raw("INSERT INTO accounts (kind, user_id) VALUES ('user', NULL) RETURNING id").Scan(&account).Error; err == nil {
		t.Fatal("a user account without a user must be refused by the schema")
	}
	db.Exec("INSERT INTO users (email, password_hash) VALUES ('l@example.com', 'x')")
	if err := db.Raw("INSERT INTO accounts (kind, user_id) SELECT 'user', id FROM users RETURNING id").Scan(&account).Error; err != nil {
		t.Fatal(err)
	}
	return db, url, account
}

// deposit writes a deposit of amount BTC to account through the writer the
// sequencer uses: the entry, its legs, the account's balance as risk
// holds it, and the external account's delta.
func deposit(t *testing.T, url string, account int64, amount string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ids, err := ledger.ReserveEntryIDs(ctx, conn, 1)
	if err != nil {
		t.Fatal(err)
	}
	balances := risk.NewBalances()
	if err := ledger.LoadBalances(ctx, conn, balances.Load); err != nil {
		t.Fatal(err)
	}
	var p risk.Postings
	p.Transfer("BTC", m(amount), ledger.ExternalAccount, ledger.Available, account, ledger.Available)
	if err := balances.Apply(p.Legs()); err != nil {
		t.Fatal(err)
	}
	var c ledger.Changes
	c.Post(ids[0], ledger.Entry{Kind: "deposit", Legs: p.Legs()})
	for _, k := range balances.Touched() {
		c.Balances = append(c.Balances, ledger.Row{Key: k, Balance: balances.Get(k)})
	}
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	c.Queue(q, time.Now())
	q.Queue("COMMIT")
	if err := conn.SendBatch(ctx, q).Close(); err != nil {
		t.Fatal(err)
	}
}

// What the writer writes adds up: entries balance, balances equal their
// legs, and the external account mirrors what users hold, in NUMERIC.
func TestWriterKeepsTheBooks(t *testing.T) {
	db, url, acct := setup(t)
	ctx := context.Background()
	deposit(t, url, acct, "2")
	deposit(t, url, acct, "0.5")
	bs, err := ledger.Balances(ctx, db, acct)
	if err != nil || len(bs) != 1 || bs[0].Available != m("2.5") || bs[0].Held != 0 {
		t.Fatalf("balances = %+v, %v", bs, err)
	}
	ext, _ := ledger.Balances(ctx, db, ledger.ExternalAccount)
	if len(ext) != 1 || ext[0].Available != m("-2.5") {
		t.Fatalf("external = %+v", ext)
	}
	if v, err := ledger.Check(ctx, db); err != nil || len(v) != 0 {
		t.Fatalf("clean books: %v %v", v, err)
	}
	// The external account's balance is never read into an Amount: it may
	// pass what one holds and deposits still add up.
	if err := db.Exec("UPDATE balances SET available = available - 1e12 WHERE account_id = 1").Error; err != nil {
		t.Fatal(err)
	}
	deposit(t, url, acct, "1")
	var external string
	db.Raw("SELECT available::text FROM balances WHERE account_id = 1 AND asset = 'BTC'").Scan(&external)
	if external != "-1000000000003.50000000" {
		t.Fatalf("external after a deposit past the Amount range: %s", external)
	}
}

// The check must catch each kind of corruption a bug or a hand edit could cause.
func TestCheckFindsCorruption(t *testing.T) {
	cases := []struct {
		name      string
		corrupt   string
		invariant string
	}{
		{"balance edited by hand", "UPDATE balances SET available = available + 1 WHERE account_id = %d", "balances equal the sum of their journal legs"},
		{"held without a reservation", "UPDATE balances SET held = held + 1, available = available - 1 WHERE account_id = %d", "held funds equal open reservations"},
		{"unbalanced entry written around the writer", "WITH e AS (INSERT INTO journal_entries (kind) VALUES ('rogue') RETURNING id) INSERT INTO journal_legs SELECT id, %d, 'BTC', 'available', 5 FROM e", "every entry balances per asset"},
		{"negative balance", "UPDATE balances SET available = -1 WHERE account_id = %d", "no balance is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, url, acct := setup(t)
			deposit(t, url, acct, "2")
			// The schema itself refuses negative balances; a corrupted
			// database may have lost that constraint, so drop it here.
			if err := db.Exec("ALTER TABLE balances DROP CONSTRAINT balances_nonnegative").Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Exec(strings.ReplaceAll(c.corrupt, "%d", "?"), acct).Error; err != nil {
				t.Fatal(err)
			}
			v, err := ledger.Check(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, x := range v {
				found = found || x.Invariant == c.invariant
			}
			if !found {
				t.Fatalf("violations %+v do not include %q", v, c.invariant)
			}
			var report strings.Builder
			ledger.WriteReport(&report, v)
			if !strings.Contains(report.String(), "FAIL  "+c.invariant) {
				t.Fatalf("report:\n%s", report.String())
			}
		})
	}
}

func TestMonitorExportsViolations(t *testing.T) {
	db, url, acct := setup(t)
	deposit(t, url, acct, "2")
	reg := prometheus.NewRegistry()
	mon := ledger.NewMonitor(db, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mon.Run(ctx, 20*time.Millisecond, func() bool { return true })
	value := func() float64 {
		n, err := testutil.GatherAndCount(reg, "exchange_ledger_check_last_run_timestamp_seconds")
		if err != nil || n == 0 {
			return -1
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "exchange_ledger_check_violations" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "balances_match_journal" {
						return m.GetGauge().GetValue()
					}
				}
			}
		}
		return -1
	}
	waitFor := func(want float64) {
		deadline := time.Now().Add(10 * time.Second)
		for value() != want {
			if time.Now().After(deadline) {
				t.Fatalf("violations gauge = %v, want %v", value(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(0)
	if err := db.Exec("UPDATE balances SET available = available + 1 WHERE account_id = ?", acct).Error; err != nil {
		t.Fatal(err)
	}
	waitFor(1)
}
