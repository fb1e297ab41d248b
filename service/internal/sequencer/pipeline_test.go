package sequencer_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// While one batch commits, the next is applied in memory behind it. When
// the database refuses batches in the middle of a load, the batches applied
// behind the failed ones must not survive in memory: every acknowledged
// order is in the database with at least the fills it was acknowledged
// with, none that failed is, and the ledger (whose balances the leader
// writes from memory) still agrees with the journal and the open orders
// after the load goes on against the rebuilt state.
func TestFailedBatchUndoesTheBatchBehindIt(t *testing.T) {
	f := newFixture(t, 50)
	seq := f.start(t)
	ctx := context.Background()

	type acked struct {
		id     int64
		filled money.Amount
	}
	var (
		mu          sync.Mutex
		ok          []acked
		unavailable atomic.Int64
		stop        atomic.Bool
		wg          sync.WaitGroup
	)
	for w := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				res, err := seq.Submit(ctx, randomPlace(rng, f))
				switch {
				case errors.Is(err, sequencer.ErrUnavailable):
					unavailable.Add(1)
				case err != nil:
					t.Error(err)
					return
				case res.Error == nil:
					mu.Lock()
					ok = append(ok, acked{res.Orders[0].ID, res.Orders[0].FilledQuantity})
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	// Every batch with a trade fails while this constraint stands.
	if err := f.db.Exec("ALTER TABLE trades ADD CONSTRAINT refuse_all CHECK (false) NOT VALID").Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := f.db.Exec("ALTER TABLE trades DROP CONSTRAINT refuse_all").Error; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if unavailable.Load() == 0 {
		t.Fatal("no batch failed: the test proves nothing")
	}
	filled := map[int64]money.Amount{}
	rows, err := f.db.Raw("SELECT id, filled_quantity::text FROM orders").Rows()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var q string
		if err := rows.Scan(&id, &q); err != nil {
			t.Fatal(err)
		}
		filled[id] = money.MustParse(q)
	}
	rows.Close()
	for _, a := range ok {
		got, found := filled[a.id]
		if !found {
			t.Fatalf("acknowledged order %d is not in the database", a.id)
		}
		if got < a.filled {
			t.Fatalf("order %d was acknowledged with %s filled, the database has %s", a.id, a.filled, got)
		}
	}
	t.Logf("%d orders acknowledged, %d answered unavailable", len(ok), unavailable.Load())
	f.checkLedger(t)
}

// While a batch waits for its flush, the next commits on the lock's
// connection instead of waiting too; neither is answered before its own
// flush, since an answer means durable. The flusher is held on the leader
// row's lock, which its logged write takes.
func TestNextBatchCommitsWhileTheLastIsFlushed(t *testing.T) {
	f := newFixture(t, 2)
	seq := f.start(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	if _, err := seq.Submit(ctx, randomPlace(rng, f)); err != nil {
		t.Fatal(err)
	}
	tx := f.db.Begin()
	defer tx.Rollback()
	if err := tx.Exec("SELECT 1 FROM sequencer_leader FOR UPDATE").Error; err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 2)
	submit := func(cmd sequencer.Command) {
		go func() {
			_, err := seq.Submit(ctx, cmd)
			answered <- err
		}()
	}
	committed := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var n int64
			if err := f.db.Raw("SELECT count(*) FROM orders").Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d orders committed, want %d: the batch waits for the flush before it", n, want)
			}
		}
	}
	submit(randomPlace(rng, f))
	committed(2)
	submit(randomPlace(rng, f))
	committed(3)
	select {
	case err := <-answered:
		t.Fatalf("a command was answered before its batch was flushed (%v)", err)
	default:
	}
	tx.Rollback()
	for range 2 {
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
	}
}

// A cancel of an order that just closed is answered with how it ended,
// from memory, for its owner only: another user learns nothing (the
// trading service then reads the database and answers not found).
func TestCancelOfClosedOrderKnowsHowItEnded(t *testing.T) {
	f := newFixture(t, 2)
	seq := f.start(t)
	ctx := context.Background()
	ask, err := seq.Submit(ctx, limit(f, 0, engine.Sell, "30000", "0.1"))
	if err != nil || ask.Error != nil {
		t.Fatal(err, ask.Error)
	}
	if res, err := seq.Submit(ctx, limit(f, 1, engine.Buy, "30000", "0.1")); err != nil || res.Error != nil {
		t.Fatal(err, res.Error)
	}
	id := ask.Orders[0].ID
	own, err := seq.Submit(ctx, sequencer.Command{Cancel: &sequencer.Cancel{UserID: f.users[0], OrderID: id}})
	if err != nil || !own.NotOpen || len(own.Orders) != 1 || own.Orders[0].Status != orders.StatusFilled || own.Orders[0].ID != id {
		t.Fatalf("owner's cancel of a filled order: %+v %v", own, err)
	}
	other, err := seq.Submit(ctx, sequencer.Command{Cancel: &sequencer.Cancel{UserID: f.users[1], OrderID: id}})
	if err != nil || !other.NotOpen || len(other.Orders) != 0 {
		t.Fatalf("another user's cancel: %+v %v", other, err)
	}
}
