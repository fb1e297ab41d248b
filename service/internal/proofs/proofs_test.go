package proofs_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/liabilities"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/proofs"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is a database with funded traders, a leading sequencer that hands
// snapshots to a running builder, and the proofs service.
type world struct {
	db       *gorm.DB
	url      string
	users    []int64
	accounts []int64
	admin    int64
	seq      *sequencer.Sequencer
	svc      *proofs.Service
	builder  *proofs.Builder
}

func newWorld(t *testing.T, traders int) *world {
	t.Helper()
	w := &world{url: pgtest.URL(t)}
	w.db = pgtest.OpenURL(t, w.url)
	ctx := context.Background()
	if err := catalog.Seed(ctx, w.db, catalog.Defaults()); err != nil {
		t.Fatal(err)
	}
	// Funded through the journal, as deposits would be, in bulk.
	err := w.db.Exec(`
		WITH u AS (INSERT INTO users (email, password_hash) SELECT 'pol' || i || '@example.com', 'x' FROM generate_series(1, ?) i RETURNING id),
		a AS (INSERT INTO accounts (kind, user_id) SELECT 'user', id FROM u RETURNING id),
		e AS (INSERT INTO journal_entries (kind, memo) VALUES ('deposit', 'fixture') RETURNING id),
		funds AS (SELECT a.id AS account_id, x.asset, x.amount FROM a, (VALUES ('BTC', 10::numeric), ('USDT', 1000000::numeric)) x(asset, amount)),
		legs AS (INSERT INTO journal_legs (entry_id, account_id, asset, bucket, amount)
			SELECT e.id, account_id, asset, 'available', amount FROM funds, e
			UNION ALL SELECT e.id, 1, asset, 'available', -sum(amount) FROM funds, e GROUP BY e.id, asset)
		INSERT INTO balances (account_id, asset, available)
		SELECT account_id, asset, amount FROM funds
		UNION ALL SELECT 1, asset, -sum(amount) FROM funds GROUP BY asset`, traders).Error
	if err != nil {
		t.Fatal(err)
	}
	rows, err := w.db.Raw("SELECT id, user_id FROM accounts WHERE kind = 'user' ORDER BY id").Rows()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, u int64
		rows.Scan(&a, &u)
		w.accounts, w.users = append(w.accounts, a), append(w.users, u)
	}
	rows.Close()
	if err := w.db.Raw("INSERT INTO users (email, password_hash, role) VALUES ('pol-admin@example.com', 'x', 'admin') RETURNING id").Scan(&w.admin).Error; err != nil {
		t.Fatal(err)
	}

	w.builder = proofs.NewBuilder(w.url, quiet, nil, 0)
	w.seq = sequencer.New(sequencer.Config{DatabaseURL: w.url, Retry: 20 * time.Millisecond, Snapshots: w.builder}, quiet, time.Now, nil)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.seq.Run(runCtx, "http://127.0.0.1:1") }()
	go func() { defer wg.Done(); w.builder.Run(runCtx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	for deadline := time.Now().Add(30 * time.Second); !w.seq.IsLeader(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sequencer did not lead")
		}
	}
	w.svc = proofs.New(w.db, sequencer.NewClient(w.seq, database.SQL(w.db), []byte("proofs-test-secret-0123456789abcdef")))
	return w
}

// published waits for the snapshot taken at taken to be published.
func (w *world) published(t *testing.T, taken sequencer.SnapshotTaken) liabilities.Snapshot {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s, err := liabilities.Latest(context.Background(), w.db)
		if err == nil && s.LastEntryID == taken.LastEntryID && s.TakenAt.Equal(taken.TakenAt) {
			return s
		}
	}
	t.Fatalf("the snapshot taken at %s was never published", taken.TakenAt)
	return liabilities.Snapshot{}
}

// load drives orders, cancels, deposits and withdrawals from several
// goroutines until stop is closed.
func (w *world) load(t *testing.T, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 99))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(len(w.users))
				var cmd sequencer.Command
				switch r := rng.IntN(20); {
				case r == 0:
					cmd.Deposit = &sequencer.Deposit{UserID: w.users[i], AccountID: w.accounts[i], Asset: "BTC", Amount: money.MustParse("0.125"), Demo: true}
				case r == 1:
					cmd.Withdraw = &sequencer.Withdraw{UserID: w.users[i], AccountID: w.accounts[i], Asset: "USDT", Amount: money.MustParse("12.5"), Address: "addr-0001-test"}
				case r == 2:
					cmd.CancelAll = &sequencer.CancelAll{UserID: w.users[i], AccountID: w.accounts[i], Market: "BTC-USDT"}
				default:
					side := engine.Side(1 + rng.IntN(2))
					price := money.MustParse("30000") + money.Amount(rng.IntN(41)-20)*money.MustParse("0.01")
					cmd.Place = &sequencer.Place{UserID: w.users[i], AccountID: w.accounts[i], Market: "BTC-USDT",
						Order: engine.Order{Kind: engine.Limit, TIF: engine.GTC, Side: side, Price: price,
							Quantity: money.Amount(1+rng.IntN(9)) * money.MustParse("0.001")}}
				}
				if _, err := w.seq.Submit(context.Background(), cmd); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	return &wg
}

// A snapshot taken in the middle of a load run is exactly the ledger at its
// batch boundary: every account's leaf equals the sum of its journal legs
// up to the snapshot's position (and the journal moved on after it), the
// totals are those legs' sums over customers, check-ledger agrees, every
// leaf's proof as the API serves it verifies, and the admin's request is
// in the audit trail.
func TestSnapshotDuringLoadEqualsTheLedgerAtItsBatch(t *testing.T) {
	w := newWorld(t, 60)
	ctx := context.Background()
	stop := make(chan struct{})
	wg := w.load(t, stop)
	time.Sleep(700 * time.Millisecond)
	taken, err := w.svc.TakeSnapshot(ctx, w.admin)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	snap := w.published(t, taken)

	var after int64
	w.db.Raw("SELECT max(id) FROM journal_entries").Scan(&after)
	if after <= taken.LastEntryID {
		t.Fatalf("no entry after the snapshot's position %d (last %d): the load did not overlap it", taken.LastEntryID, after)
	}
	// The ledger as of the snapshot, from the journal alone, per account
	// and asset, in smallest units.
	type key struct {
		account int64
		asset   string
	}
	var legs []struct {
		AccountID int64
		Asset     string
		Units     int64
	}
	err = w.db.Raw(`SELECT l.account_id, l.asset, (sum(l.amount) * power(10::numeric, s.precision))::bigint AS units
		FROM journal_legs l JOIN accounts a ON a.id = l.account_id AND a.kind = 'user' JOIN assets s ON s.symbol = l.asset
		WHERE l.entry_id <= ? GROUP BY l.account_id, l.asset, s.precision HAVING sum(l.amount) <> 0`, taken.LastEntryID).Scan(&legs).Error
	if err != nil {
		t.Fatal(err)
	}
	want := map[key]int64{}
	for _, l := range legs {
		want[key{l.AccountID, l.Asset}] = l.Units
	}
	var leaves []struct {
		AccountID int64
		UserID    int64
		Amounts   string
	}
	w.db.Raw("SELECT account_id, user_id, array_to_string(amounts, ',') AS amounts FROM liability_leaves WHERE snapshot_id = ?", snap.ID).Scan(&leaves)
	got := map[key]int64{}
	for _, l := range leaves {
		for c, s := range strings.Split(l.Amounts, ",") {
			var v int64
			fmt.Sscan(s, &v)
			if v != 0 {
				got[key{l.AccountID, snap.Totals[c].Asset}] = v
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d non-zero leaf balances, the journal has %d at entry %d", len(got), len(want), taken.LastEntryID)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("account %d %s: leaf %d, journal %d", k.account, k.asset, got[k], v)
		}
	}
	if int(snap.Accounts) != len(leaves) {
		t.Errorf("published %d accounts, %d leaves", snap.Accounts, len(leaves))
	}
	checkLedger(t, w.db)

	// Every trader's proof, as the API serves it, verifies to the root.
	for _, l := range leaves {
		p, err := w.svc.Mine(ctx, l.UserID, 0)
		if err != nil {
			t.Fatal(err)
		}
		v, err := sumtree.Verify(p)
		if err != nil {
			t.Fatalf("user %d: %v", l.UserID, err)
		}
		if v.Root != snap.RootHash || v.UserID != l.UserID {
			t.Fatalf("user %d: proof for user %d to root %x, published %x", l.UserID, v.UserID, v.Root, snap.RootHash)
		}
	}
	var audited int64
	w.db.Raw("SELECT count(*) FROM admin_audit WHERE admin_id = ? AND action = 'liabilities_snapshot'", w.admin).Scan(&audited)
	if audited != 1 {
		t.Errorf("%d audit rows for the admin's snapshot, want 1", audited)
	}
	t.Logf("snapshot %d at entry %d of %d: %d accounts, root %s", snap.ID, taken.LastEntryID, after, snap.Accounts, hex.EncodeToString(snap.RootHash[:8]))
}

func checkLedger(t *testing.T, db *gorm.DB) {
	t.Helper()
	v, err := ledger.Check(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) > 0 {
		var b strings.Builder
		ledger.WriteReport(&b, v)
		t.Fatalf("ledger invariants violated:\n%s", b.String())
	}
}

// check-ledger refuses a snapshot whose totals are not the journal's at
// its position, and leaves that do not add up to the totals; a published
// snapshot cannot be edited.
func TestCheckLedgerCatchesAWrongSnapshot(t *testing.T) {
	w := newWorld(t, 3)
	ctx := context.Background()
	taken, err := w.svc.TakeSnapshot(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := w.published(t, taken)
	checkLedger(t, w.db)

	if err := w.db.Exec("UPDATE liability_totals SET total = total + 1 WHERE snapshot_id = ?", snap.ID).Error; err == nil {
		t.Fatal("a published total was edited")
	}
	if err := w.db.Exec("DELETE FROM liability_snapshots WHERE id = ?", snap.ID).Error; err == nil {
		t.Fatal("a published snapshot was deleted")
	}
	// A forged snapshot: one BTC short of the journal at the same position.
	err = w.db.Exec(`WITH s AS (INSERT INTO liability_snapshots (taken_at, last_entry_id, account_count, root_hash, nonce_key, published_at)
			VALUES (now(), ?, 0, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), now()) RETURNING id)
		INSERT INTO liability_totals (snapshot_id, ordinal, asset, precision, total) SELECT id, 1, 'BTC', 8, 29 FROM s`, taken.LastEntryID).Error
	if err != nil {
		t.Fatal(err)
	}
	v, err := ledger.Check(ctx, w.db)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	ledger.WriteReport(&b, v)
	report := b.String()
	for _, want := range []string{"FAIL  every proof-of-liabilities snapshot's totals equal", "BTC: published 29", "journal 30", "FAIL  the newest snapshot's leaves"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}

// What the proofs service answers when there is nothing to prove.
func TestNothingToProve(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	if _, err := w.svc.Mine(ctx, w.users[0], 0); err == nil || !strings.Contains(err.Error(), "no proof-of-liabilities snapshot has been published yet") {
		t.Fatalf("before any snapshot: %v", err)
	}
	taken, err := w.svc.TakeSnapshot(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := w.published(t, taken)
	if _, err := w.svc.Mine(ctx, w.admin, 0); err == nil || !strings.Contains(err.Error(), "you held nothing") {
		t.Fatalf("a user holding nothing: %v", err)
	}
	if _, err := w.svc.Mine(ctx, w.users[0], snap.ID+100); err == nil || !strings.Contains(err.Error(), "there is no snapshot") {
		t.Fatalf("an unknown snapshot: %v", err)
	}
	if _, err := w.svc.Mine(ctx, w.users[1], snap.ID); err != nil {
		t.Fatal(err)
	}
}

// Pruning deletes a snapshot's leaves and nodes after the retention; the
// root and totals stay, and the proof says why it is gone.
func TestPruneKeepsTheRoot(t *testing.T) {
	w := newWorld(t, 5)
	ctx := context.Background()
	taken, err := w.svc.TakeSnapshot(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := w.published(t, taken)
	conn, err := pgx.Connect(ctx, w.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if n, err := liabilities.Prune(ctx, conn, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if _, err := w.svc.Mine(ctx, w.users[0], snap.ID); err == nil || !strings.Contains(err.Error(), "deleted after the retention") {
		t.Fatalf("a pruned proof: %v", err)
	}
	still, err := w.svc.Latest(ctx)
	if err != nil || still.RootHash != snap.RootHash || len(still.Totals) != 3 || still.PrunedAt == nil {
		t.Fatalf("after pruning: %+v %v", still, err)
	}
	var leaves int64
	w.db.Raw("SELECT count(*) FROM liability_leaves").Scan(&leaves)
	if leaves != 0 {
		t.Fatalf("%d leaves left", leaves)
	}
	checkLedger(t, w.db)
}
