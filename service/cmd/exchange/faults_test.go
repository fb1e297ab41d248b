package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/localpg"
)

// faultCluster is a PostgreSQL of the test's own, which it may crash or
// freeze, migrated and seeded, with two replicas on it and four funded
// traders.
type faultCluster struct {
	pg    *localpg.Server
	dbURL string
	a, b  *server
	bots  []*bot
}

func newFaultCluster(t *testing.T, replicaEnv ...string) *faultCluster {
	t.Helper()
	// No fsync (the machine does not crash here, only PostgreSQL), but
	// every commit written out before it returns, as in production: a
	// commit acknowledged must survive the server's crash.
	pg, err := localpg.Start(context.Background(), localpg.Options{Unsafe: true, Settings: map[string]string{"synchronous_commit": "on"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pg.Resume() // a test that failed while it was frozen
		pg.Stop()
	})
	if err := pg.Exec(context.Background(), "postgres", "CREATE DATABASE exchange"); err != nil {
		t.Fatal(err)
	}
	c := &faultCluster{pg: pg, dbURL: pg.URL("exchange")}
	if r := runBinary(t, []string{"DATABASE_URL=" + c.dbURL}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	c.a = startReplica(t, c.dbURL, replicaEnv...)
	select {
	case <-c.a.leader:
	case <-time.After(20 * time.Second):
		t.Fatal("first replica did not lead")
	}
	c.b = startReplica(t, c.dbURL, replicaEnv...)
	waitReady(t, c.b)
	for i := range 4 {
		c.bots = append(c.bots, newBot(t, c.b, fmt.Sprintf("f%d@example.com", i)))
	}
	return c
}

// faultLoad sends orders to both replicas until stopped, without retries:
// it records what was acknowledged, the statuses of what was not, and
// when each acknowledgement came.
type faultLoad struct {
	mu       sync.Mutex
	acks     map[string]ack
	ackTimes []time.Time
	refused  map[int]int // status (0: no answer) -> count
	stop     chan struct{}
	wg       sync.WaitGroup
}

func (c *faultCluster) load(t *testing.T) *faultLoad {
	l := &faultLoad{acks: map[string]ack{}, refused: map[int]int{}, stop: make(chan struct{})}
	var n atomic.Int64
	for w := range 8 {
		l.wg.Go(func() {
			stream := orderStream(uint64(300+w), 100000)
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				o := stream[i]
				o["client_order_id"] = fmt.Sprintf("w%d-%d", w, i)
				target := []string{c.a.url, c.b.url}[n.Add(1)%2]
				status, body, err := c.bots[w%len(c.bots)].order(target, o)
				l.mu.Lock()
				switch {
				case err == nil && status == http.StatusCreated:
					var k ack
					if err := json.Unmarshal(body, &k); err != nil {
						t.Errorf("ack body: %s", body)
					}
					l.acks[k.ClientOrderID] = k
					l.ackTimes = append(l.ackTimes, time.Now())
				case err != nil:
					l.refused[0]++
				default:
					l.refused[status]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *faultLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// firstAckAfter is how long after at the first order was acknowledged.
func (l *faultLoad) firstAckAfter(at time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.ackTimes {
		if a.After(at) {
			return a.Sub(at)
		}
	}
	return -1
}

// check holds what every fault test promises: no acknowledged order lost,
// the ledger balanced, and nothing answered but an acknowledgement, a 503
// (the database or the sequencer cannot be reached: retry with the same
// client_order_id) or a connection error.
func (l *faultLoad) check(t *testing.T, dbURL string) {
	t.Helper()
	for status, n := range l.refused {
		if status != 0 && status != http.StatusServiceUnavailable {
			t.Errorf("%d orders answered %d during the fault", n, status)
		}
	}
	if len(l.acks) < 100 {
		t.Fatalf("only %d orders acknowledged: the load tested little", len(l.acks))
	}
	checkAcks(t, dbURL, l.acks)
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "check-ledger"); r.code != 0 {
		t.Fatalf("check-ledger after the fault:\n%s%s", r.stdout, r.stderr)
	}
}

// PostgreSQL crashes in the middle of a load run on two replicas and comes
// back: every acknowledged order survives, the books balance, clients saw
// only 503s meanwhile, and orders are acknowledged again soon after.
func TestDatabaseCrashMidLoad(t *testing.T) {
	c := newFaultCluster(t)
	l := c.load(t)
	time.Sleep(1500 * time.Millisecond)
	if err := c.pg.Crash(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	restarted := time.Now()
	if err := c.pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	l.finish()
	recovery := l.firstAckAfter(restarted)
	t.Logf("database crash: orders acknowledged again %.2fs after PostgreSQL restarted; %d acknowledged in all; refused meanwhile: %v",
		recovery.Seconds(), len(l.acks), l.refused)
	if recovery < 0 || recovery > 10*time.Second {
		t.Fatalf("no order acknowledged within 10 s of the restart (%s)", recovery)
	}
	l.check(t, c.dbURL)
}

// PostgreSQL stops answering with its connections open (a frozen machine,
// a network that drops packets): requests are answered 503 within
// REQUEST_TIMEOUT, /readyz reports it, the sequencer does not stay stuck,
// and trading resumes when the database does.
func TestDatabaseHangMidLoad(t *testing.T) {
	const requestTimeout = 2 * time.Second
	c := newFaultCluster(t, "REQUEST_TIMEOUT="+requestTimeout.String())
	l := c.load(t)
	time.Sleep(1500 * time.Millisecond)
	if err := c.pg.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	// While it hangs: an order and a readiness probe, each answered in time.
	// The order is valid (exactly the market's minimum value), so only the
	// hang can refuse it.
	start := time.Now()
	status, body, err := c.bots[0].order(c.b.url, map[string]any{"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "quantity": "0.01"})
	answered := time.Since(start)
	if err != nil || status != http.StatusServiceUnavailable || answered > requestTimeout+time.Second {
		t.Errorf("order while the database hangs: %d %s %v after %s; want 503 within %s", status, body, err, answered, requestTimeout)
	}
	start = time.Now()
	res, err := http.Get(c.a.url + "/readyz")
	if err == nil {
		res.Body.Close()
	}
	probed := time.Since(start)
	if err != nil || res.StatusCode != http.StatusServiceUnavailable || probed > 3*time.Second {
		t.Errorf("readyz while the database hangs: %v %v after %s; want 503 within 3 s", res, err, probed)
	}
	// Longer than the sequencer's 10 s bound on a batch: the leader's
	// batch under way fails (503, outcome unknown) and it lets go rather
	// than wait.
	time.Sleep(10 * time.Second)
	resumed := time.Now()
	if err := c.pg.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	l.finish()
	recovery := l.firstAckAfter(resumed)
	t.Logf("database hang: an order was answered 503 after %s and /readyz after %s; orders acknowledged again %.2fs after PostgreSQL resumed; %d acknowledged in all; refused meanwhile: %v",
		answered.Round(time.Millisecond), probed.Round(time.Millisecond), recovery.Seconds(), len(l.acks), l.refused)
	if recovery < 0 || recovery > 15*time.Second {
		t.Fatalf("no order acknowledged within 15 s of the database resuming (%s)", recovery)
	}
	l.check(t, c.dbURL)
}
