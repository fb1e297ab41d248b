package ledger_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var m = money.MustParse

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		e    ledger.Entry
		want string
	}{
		{"no kind", ledger.Entry{Legs: ledger.Transfer("BTC", 1, 1, ledger.Available, 2, ledger.Available)}, "without a kind"},
		{"one leg", ledger.Entry{Kind: "x", Legs: []ledger.Leg{{1, "BTC", ledger.Available, 1}}}, "needs at least 2"},
		{"zero leg", ledger.Entry{Kind: "x", Legs: ledger.Transfer("BTC", 0, 1, ledger.Available, 2, ledger.Available)}, "zero leg"},
		{"unbalanced", ledger.Entry{Kind: "x", Legs: []ledger.Leg{{1, "BTC", ledger.Available, 2}, {2, "BTC", ledger.Available, -1}}}, "does not balance"},
		{"balanced across assets is not balanced", ledger.Entry{Kind: "x", Legs: []ledger.Leg{{1, "BTC", ledger.Available, 1}, {2, "ETH", ledger.Available, -1}}}, "does not balance"},
		{"bad bucket", ledger.Entry{Kind: "x", Legs: []ledger.Leg{{1, "BTC", "frozen", 1}, {2, "BTC", ledger.Available, -1}}}, "bucket"},
		{"overflow", ledger.Entry{Kind: "x", Legs: []ledger.Leg{{1, "BTC", ledger.Available, money.Max}, {1, "BTC", ledger.Available, money.Max}, {2, "BTC", ledger.Available, -1}}}, "overflows"},
	}
	for _, c := range cases {
		err := c.e.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if err := (ledger.Entry{Kind: "ok", Legs: ledger.Transfer("BTC", 5, 1, ledger.Available, 2, ledger.Held)}).Validate(); err != nil {
		t.Errorf("a transfer must validate: %v", err)
	}
}

func setup(t *testing.T) (*gorm.DB, int64) {
	db := pgtest.Open(t)
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
	return db, account
}

func post(t *testing.T, db *gorm.DB, e ledger.Entry) error {
	return db.Transaction(func(tx *gorm.DB) error {
		_, err := ledger.Post(context.Background(), tx, e)
		return err
	})
}

func TestPostAndCheck(t *testing.T) {
	db, acct := setup(t)
	ctx := context.Background()
	if err := post(t, db, ledger.Entry{Kind: "deposit", Legs: ledger.Transfer("BTC", m("2"), ledger.ExternalAccount, ledger.Available, acct, ledger.Available)}); err != nil {
		t.Fatal(err)
	}
	err := post(t, db, ledger.Entry{Kind: "withdrawal_hold", Legs: ledger.Transfer("BTC", m("2.00000001"), acct, ledger.Available, acct, ledger.Held)})
	if e, ok := apierr.As(err); !ok || e.Code != apierr.InsufficientFunds || e.Message != "available 2 BTC, needs 2.00000001 BTC" {
		t.Fatalf("overdraw: %v", err)
	}
	bs, err := ledger.Balances(ctx, db, acct)
	if err != nil || len(bs) != 1 || bs[0].Available != m("2") || bs[0].Held != 0 {
		t.Fatalf("balances = %+v, %v", bs, err)
	}
	ext, _ := ledger.Balances(ctx, db, ledger.ExternalAccount)
	if len(ext) != 1 || ext[0].Available != m("-2") {
		t.Fatalf("external = %+v", ext)
	}
	if v, err := ledger.Check(ctx, db); err != nil || len(v) != 0 {
		t.Fatalf("clean books: %v %v", v, err)
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
		{"unbalanced entry written around Post", "WITH e AS (INSERT INTO journal_entries (kind) VALUES ('rogue') RETURNING id) INSERT INTO journal_legs SELECT id, %d, 'BTC', 'available', 5 FROM e", "every entry balances per asset"},
		{"negative balance", "UPDATE balances SET available = -1 WHERE account_id = %d", "no balance is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, acct := setup(t)
			if err := post(t, db, ledger.Entry{Kind: "deposit", Legs: ledger.Transfer("BTC", m("2"), ledger.ExternalAccount, ledger.Available, acct, ledger.Available)}); err != nil {
				t.Fatal(err)
			}
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
	db, acct := setup(t)
	if err := post(t, db, ledger.Entry{Kind: "deposit", Legs: ledger.Transfer("BTC", m("2"), ledger.ExternalAccount, ledger.Available, acct, ledger.Available)}); err != nil {
		t.Fatal(err)
	}
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
