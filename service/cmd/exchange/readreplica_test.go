package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/localpg"
)

// metric reads one sample of the replica's /metrics (a name with its
// labels, as exposed), or -1 when absent.
func (r *server) metric(t *testing.T, name string) float64 {
	t.Helper()
	res, err := http.Get(r.internalURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, v)
			}
			return f
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// History, candles and admin lists read from a real streaming replica
// while it keeps up; when it falls behind or goes away they read from the
// primary, so a trader never sees history older than allowed, and nothing
// fails. The replica's lag is measured and exported.
func TestReadsFromAStreamingReplica(t *testing.T) {
	ctx := context.Background()
	pg, err := localpg.Start(ctx, localpg.Options{Unsafe: true, Settings: map[string]string{"synchronous_commit": "on"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE exchange"); err != nil {
		t.Fatal(err)
	}
	dbURL := pg.URL("exchange")
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	rep, err := pg.StartReplica(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replicaUp := true
	t.Cleanup(func() {
		if replicaUp {
			rep.Stop()
		}
	})
	x := startReplica(t, dbURL, "DATABASE_READ_URL="+rep.URL("exchange"), "DATABASE_READ_MAX_LAG=1s")
	waitReady(t, x)
	b := newBot(t, x, "reader@example.com")
	reads := func(pool string) float64 {
		return x.metric(t, `exchange_db_lag_tolerant_reads_total{pool="`+pool+`"}`)
	}
	history := func() string {
		status, body, err := b.do(x.url, "GET", "/api/v1/orders?limit=100", nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("order history: %d %s %v", status, body, err)
		}
		return string(body)
	}
	place := func(id string) {
		if status, body, _ := b.order(x.url, map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit",
			"price": "100", "quantity": "0.01", "client_order_id": id}); status != http.StatusCreated {
			t.Fatalf("order %s: %d %s", id, status, body)
		}
	}

	// Caught up: history comes from the replica.
	waitFor(t, "replica in use", 10*time.Second, func() bool { return x.metric(t, "exchange_db_replica_up") == 1 })
	place("r-1")
	waitFor(t, "the replica shows the order", 5*time.Second, func() bool { return strings.Contains(history(), `"r-1"`) })
	// A read while a sample happens to catch replay a moment behind goes
	// to the primary; within a few samples one comes from the replica.
	waitFor(t, "order history read from the caught-up replica", 10*time.Second, func() bool {
		before := reads("replica")
		history()
		return reads("replica") > before
	})

	// Replay paused: the lag grows past 1 s, and history comes from the
	// primary, with the order placed after the pause in it.
	if err := rep.Exec(ctx, "exchange", "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	place("r-2")
	fellBack := waitFor(t, "lag past 1 s", 10*time.Second, func() bool { return x.metric(t, "exchange_db_replica_lag_seconds") > 1 })
	before := reads("primary")
	if h := history(); !strings.Contains(h, `"r-2"`) {
		t.Fatalf("history from a replica 1 s behind: the order placed after the pause is missing:\n%s", h)
	}
	if reads("primary") <= before {
		t.Fatal("order history did not fall back to the primary")
	}
	if err := rep.Exec(ctx, "exchange", "SELECT pg_wal_replay_resume()"); err != nil {
		t.Fatal(err)
	}
	back := waitFor(t, "replica caught up", 10*time.Second, func() bool { return x.metric(t, "exchange_db_replica_lag_seconds") == 0 })

	// Under load: the lag the exchange measures while orders stream in.
	maxLag := 0.0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				maxLag = max(maxLag, x.metric(t, "exchange_db_replica_lag_seconds"))
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				place(fmt.Sprintf("load-%d-%d", w, i))
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled

	// The replica stops: reads go to the primary and nothing fails.
	replicaUp = false
	if err := rep.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica marked down", 10*time.Second, func() bool { return x.metric(t, "exchange_db_replica_up") == 0 })
	before = reads("primary")
	var page struct{ Data []json.RawMessage }
	if err := json.Unmarshal([]byte(history()), &page); err != nil || len(page.Data) == 0 {
		t.Fatalf("history with the replica down: %v", err)
	}
	if reads("primary") <= before {
		t.Fatal("history did not move to the primary when the replica stopped")
	}
	res, err := http.Get(x.url + "/readyz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("readyz with the replica down: %v %v", res, err)
	}
	res.Body.Close()
	t.Logf("read replica: fell back to the primary %.2fs after replay paused (limit 1 s, checked every 0.5 s), back on the replica %.2fs after it resumed; lag under 400 orders from 8 clients at most %.2fs",
		fellBack.Seconds(), back.Seconds(), maxLag)
}
