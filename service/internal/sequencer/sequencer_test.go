package sequencer_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is a database with n funded traders and a running sequencer.
type fixture struct {
	db       *gorm.DB
	url      string
	accounts []int64 // account ids; the user id is stored alongside
	users    []int64
}

func newFixture(t testing.TB, traders int) *fixture {
	t.Helper()
	url := pgtest.URL(t)
	db := pgtest.OpenURL(t, url)
	if err := catalog.Seed(context.Background(), db, catalog.Defaults()); err != nil {
		t.Fatal(err)
	}
	// Fund through the journal like a deposit would, in bulk.
	err := db.Exec(`
		WITH u AS (INSERT INTO users (email, password_hash) SELECT 'bench' || i || '@example.com', 'x' FROM generate_series(1, ?) i RETURNING id),
		a AS (INSERT INTO accounts (kind, user_id) SELECT 'user', id FROM u RETURNING id),
		e AS (INSERT INTO journal_entries (kind, memo) VALUES ('deposit', 'fixture') RETURNING id),
		funds AS (SELECT a.id AS account_id, x.asset, x.amount FROM a, (VALUES ('BTC', 1000::numeric), ('USDT', 100000000::numeric)) x(asset, amount)),
		legs AS (INSERT INTO journal_legs (entry_id, account_id, asset, bucket, amount)
			SELECT e.id, account_id, asset, 'available', amount FROM funds, e
			UNION ALL SELECT e.id, 1, asset, 'available', -sum(amount) FROM funds, e GROUP BY e.id, asset)
		INSERT INTO balances (account_id, asset, available)
		SELECT account_id, asset, amount FROM funds
		UNION ALL SELECT 1, asset, -sum(amount) FROM funds GROUP BY asset`, traders).Error
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, url: url}
	rows, err := db.Raw("SELECT id, user_id FROM accounts WHERE kind = 'user' ORDER BY id").Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, u int64
		rows.Scan(&a, &u)
		f.accounts, f.users = append(f.accounts, a), append(f.users, u)
	}
	return f
}

func (f *fixture) start(t testing.TB) *sequencer.Sequencer {
	t.Helper()
	seq, stop := f.startStoppable(t)
	t.Cleanup(stop)
	return seq
}

func (f *fixture) startStoppable(t testing.TB) (*sequencer.Sequencer, func()) {
	t.Helper()
	seq := sequencer.New(sequencer.Config{DatabaseURL: f.url, Retry: 20 * time.Millisecond}, quiet, time.Now, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); seq.Run(ctx, "http://127.0.0.1:1") }()
	stop := func() { cancel(); <-done }
	deadline := time.Now().Add(30 * time.Second)
	for !seq.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("sequencer did not become leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return seq, stop
}

func randomPlace(rng *rand.Rand, f *fixture) sequencer.Command {
	i := rng.IntN(len(f.accounts))
	o := engine.Order{Kind: engine.Limit, TIF: engine.GTC, Side: engine.Side(1 + rng.IntN(2)),
		Price:    money.MustParse("30000") + money.Amount(rng.IntN(41)-20)*money.MustParse("0.01"),
		Quantity: money.Amount(1+rng.IntN(9)) * money.MustParse("0.001")}
	return sequencer.Command{Place: &sequencer.Place{UserID: f.users[i], AccountID: f.accounts[i], Market: "BTC-USDT", Order: o}}
}

func (f *fixture) checkLedger(t testing.TB) {
	t.Helper()
	v, err := ledger.Check(context.Background(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 0 {
		t.Fatalf("ledger invariants violated: %+v", v)
	}
}

// BenchmarkSequencerPlace measures commands committed per second through
// the sequencer alone (no HTTP), with 256 concurrent submitters.
func BenchmarkSequencerPlace(b *testing.B) {
	f := newFixture(b, 200)
	seq := f.start(b)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for next.Add(1) <= int64(b.N) {
				if _, err := seq.Submit(context.Background(), randomPlace(rng, f)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkRebuild100k measures how long a replica takes from winning the
// lock to leading, with 100,000 accounts' balances to load and 100,000
// open orders (one per account, with their holds) to put back on the
// books. The target is under 10 s.
func BenchmarkRebuild100k(b *testing.B) {
	f := newFixture(b, 100000)
	err := f.db.Exec(`
		INSERT INTO orders (id, user_id, account_id, market, side, type, time_in_force, price, quantity, status, created_at, updated_at)
		SELECT i, a.user_id, a.id, 'BTC-USDT', CASE WHEN i % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 'GTC',
		       CASE WHEN i % 2 = 0 THEN 29000 - (i % 1000) * 0.01 ELSE 31000 + (i % 1000) * 0.01 END, 0.01, 'open', now(), now()
		FROM generate_series(1, 100000) i JOIN accounts a ON a.id = (SELECT min(id) FROM accounts WHERE kind = 'user') + i - 1`).Error
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		seq := sequencer.New(sequencer.Config{DatabaseURL: f.url, Retry: 5 * time.Millisecond}, quiet, time.Now, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); seq.Run(ctx, "http://127.0.0.1:1") }()
		for !seq.IsLeader() {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/rebuild")
		cancel()
		<-done
	}
}

func limit(f *fixture, trader int, side engine.Side, price, qty string) sequencer.Command {
	return sequencer.Command{Place: &sequencer.Place{UserID: f.users[trader], AccountID: f.accounts[trader], Market: "BTC-USDT",
		Order: engine.Order{Kind: engine.Limit, TIF: engine.GTC, Side: side, Price: money.MustParse(price), Quantity: money.MustParse(qty)}}}
}

// A restart rebuilds the books from open orders, and time priority survives:
// of two asks at one price, the older still trades first. A follower meanwhile
// refuses commands rather than applying them.
func TestRestartKeepsTimePriority(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	seq, stop := f.startStoppable(t)
	first, err := seq.Submit(ctx, limit(f, 0, engine.Sell, "30000", "0.5"))
	if err != nil || first.Error != nil {
		t.Fatal(err, first.Error)
	}
	if _, err := seq.Submit(ctx, limit(f, 1, engine.Sell, "30000", "0.5")); err != nil {
		t.Fatal(err)
	}
	follower := sequencer.New(sequencer.Config{DatabaseURL: f.url, Retry: 20 * time.Millisecond}, quiet, time.Now, nil)
	fctx, fcancel := context.WithCancel(ctx)
	fdone := make(chan struct{})
	go func() { defer close(fdone); follower.Run(fctx, "http://127.0.0.1:2") }()
	time.Sleep(100 * time.Millisecond)
	if _, err := follower.Submit(ctx, limit(f, 2, engine.Buy, "30000", "0.1")); err != sequencer.ErrNotLeader {
		t.Fatalf("a follower must refuse commands, got %v", err)
	}
	fcancel()
	<-fdone
	stop()

	seq = f.start(t)
	res, err := seq.Submit(ctx, limit(f, 2, engine.Buy, "30000", "0.5"))
	if err != nil || res.Error != nil || res.Orders[0].Status != orders.StatusFilled {
		t.Fatalf("buy after restart: %+v %v", res, err)
	}
	var maker int64
	f.db.Raw("SELECT maker_order_id FROM trades").Scan(&maker)
	if maker != first.Orders[0].ID {
		t.Fatalf("after the restart the buy matched order %d, want the older order %d", maker, first.Orders[0].ID)
	}
	f.checkLedger(t)
}

// SubmitAll answers each command as Submit would, in order, and queues
// them together so that they share batches.
func TestSubmitAllAnswersEachCommand(t *testing.T) {
	f := newFixture(t, 10)
	seq := f.start(t)
	rng := rand.New(rand.NewPCG(3, 4))
	cmds := make([]sequencer.Command, 50)
	for i := range cmds {
		cmds[i] = randomPlace(rng, f)
	}
	// One order its trader cannot pay for: its answer is its own error,
	// the others are placed.
	bad := *cmds[7].Place
	bad.Order.Side, bad.Order.Quantity = engine.Sell, money.MustParse("5000")
	cmds[7] = sequencer.Command{Place: &bad}
	answers := seq.SubmitAll(context.Background(), cmds)
	if len(answers) != len(cmds) {
		t.Fatalf("%d answers for %d commands", len(answers), len(cmds))
	}
	ids := map[int64]bool{}
	for i, a := range answers {
		if a.Err != nil {
			t.Fatalf("command %d: %v", i, a.Err)
		}
		if i == 7 {
			if a.Result.Error == nil {
				t.Fatal("an order beyond its trader's funds was placed")
			}
			continue
		}
		if a.Result.Error != nil || len(a.Result.Orders) == 0 {
			t.Fatalf("command %d: %+v", i, a.Result)
		}
		o := a.Result.Orders[0]
		if o.UserID != cmds[i].Place.UserID || ids[o.ID] {
			t.Fatalf("command %d answered with order %d of user %d", i, o.ID, o.UserID)
		}
		ids[o.ID] = true
		// Amounts travel to PostgreSQL as counts of units: what is stored
		// is exactly what was placed.
		var price, qty string
		f.db.Raw("SELECT price::text, quantity::text FROM orders WHERE id = ?", o.ID).Row().Scan(&price, &qty)
		if money.MustParse(price) != cmds[i].Place.Order.Price || money.MustParse(qty) != cmds[i].Place.Order.Quantity {
			t.Fatalf("order %d stored as price %s, quantity %s; placed %s, %s", o.ID, price, qty, cmds[i].Place.Order.Price, cmds[i].Place.Order.Quantity)
		}
	}
	f.checkLedger(t)
}
