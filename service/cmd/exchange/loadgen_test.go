package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/loadgen"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// A short, bounded load run against a real server: the full one for the
// numbers in docs/performance.md takes longer and is run by hand. Here it
// proves the path works under concurrency: nothing but expected refusals,
// and the books balance afterwards.
func TestShortLoadRun(t *testing.T) {
	dbURL := pgtest.URL(t)
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := startReplica(t, dbURL)
	select {
	case <-r.leader:
	case <-time.After(20 * time.Second):
		t.Fatal("replica did not lead")
	}
	// Over HTTP, then over the order-entry socket; one order a request,
	// then batches.
	for _, run := range []struct {
		ws    bool
		batch int
	}{{false, 1}, {true, 1}, {false, 5}, {true, 5}} {
		rep, err := loadgen.Run(context.Background(), loadgen.Config{
			URL: r.url, Traders: 4, Concurrency: 16, Rate: 400, Duration: 3 * time.Second, Market: "BTC-USDT",
			LimitWeight: 80, MarketWeight: 5, CancelWeight: 15, MidPrice: "30000", Tick: "0.01", Spread: 20, Seed: 1,
			WSOrders: run.ws, Batch: run.batch,
		}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		rep.Print(&out)
		t.Logf("websocket order entry %v, %d orders a request:\n%s", run.ws, run.batch, out.String())
		if rep.Acked < 100 || rep.Trades == 0 || rep.Orders < rep.Acked*int64(run.batch)/2 {
			t.Fatalf("too little happened: %d acked, %d orders, %d trades", rep.Acked, rep.Orders, rep.Trades)
		}
		for code, n := range rep.Errors {
			// A cancel can lose the race with the fill it tries to prevent.
			if code != "order_not_open" {
				t.Errorf("%d unexpected %s errors", n, code)
			}
		}
	}
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "check-ledger"); r.code != 0 {
		t.Fatalf("check-ledger after load:\n%s%s", r.stdout, r.stderr)
	}
}
