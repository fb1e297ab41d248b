package sequencer_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// The leader's own feed takes each batch's events from memory; every other
// replica decodes them from the NOTIFY. Both must see the same events, in
// the same order, batch for batch, and the leader's feed must decode none.
func TestOwnFeedSeesWhatOthersDecode(t *testing.T) {
	f := newFixture(t, 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	listen := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, f.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		if _, err := conn.Exec(ctx, "LISTEN "+sequencer.EventsChannel); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	own, other := listen(), listen()

	// The test's listener is not the exchange's feed and may fall behind on
	// a loaded machine (CI once saw 22 batches forgotten past the bound of
	// 16): with room for all, a batch forgotten means one never taken.
	pub := sequencer.NewPublishedKeeping(1 << 16)
	seq := sequencer.New(sequencer.Config{DatabaseURL: f.url, Retry: 20 * time.Millisecond, Published: pub}, quiet, time.Now, nil)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); seq.Run(runCtx, "http://127.0.0.1:1") }()
	defer func() { stop(); <-done }()
	for !seq.IsLeader() {
		time.Sleep(5 * time.Millisecond)
	}

	// Both feeds follow while orders arrive in parallel, so that batches
	// hold many orders, trade and rest.
	type followed struct {
		batches []sequencer.Events
		err     error
	}
	follow := func(conn *pgx.Conn, r *sequencer.Reassembler, out chan<- followed) {
		var got followed
		for {
			// Quiet for a second after the last order: all is in.
			wait, cancel := context.WithTimeout(ctx, time.Second)
			n, err := conn.WaitForNotification(wait)
			cancel()
			if err != nil {
				out <- got
				return
			}
			ev, ok, err := r.Add(n.Payload)
			if err != nil {
				got.err = err
				out <- got
				return
			}
			if ok {
				got.batches = append(got.batches, ev)
			}
		}
	}
	fromMemory, fromNotify := make(chan followed, 1), make(chan followed, 1)
	go follow(own, &sequencer.Reassembler{Own: pub}, fromMemory)
	go follow(other, &sequencer.Reassembler{}, fromNotify)

	rng := rand.New(rand.NewPCG(7, 7))
	cmds := make([]sequencer.Command, 600)
	for i := range cmds {
		cmds[i] = randomPlace(rng, f)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := i; j < len(cmds); j += 8 {
				if _, err := seq.Submit(ctx, cmds[j]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	a, b := <-fromMemory, <-fromNotify
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	if len(a.batches) != len(b.batches) {
		t.Fatalf("the leader's feed got %d batches, another %d", len(a.batches), len(b.batches))
	}
	orders, trades := 0, 0
	for i := range a.batches {
		if !reflect.DeepEqual(a.batches[i], b.batches[i]) {
			t.Fatalf("batch %d differs:\nfrom memory %+v\ndecoded     %+v", i, a.batches[i], b.batches[i])
		}
		orders, trades = orders+len(a.batches[i].Orders), trades+len(a.batches[i].Trades)
	}
	if orders < len(cmds) || trades == 0 || len(a.batches) < 2 {
		t.Fatalf("%d batches, %d order events, %d trades: the test did not exercise the feed", len(a.batches), orders, trades)
	}
	// Every batch was put in memory for the leader's feed; none is left and
	// none was forgotten, so it decoded none.
	if pending, evicted := pub.Pending(); pending != 0 || evicted != 0 {
		t.Fatalf("%d batches still wait for the leader's feed, %d were forgotten", pending, evicted)
	}
	t.Logf("%d batches, %d order events, %d trades: the same from memory and decoded", len(a.batches), orders, trades)
}
