package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// endpoints is what a Service would route to: the replicas that are
// ready and not terminating.
type endpoints struct {
	mu   sync.Mutex
	urls []string
	next int
}

func (e *endpoints) pick() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	return e.urls[e.next%len(e.urls)]
}

func (e *endpoints) set(urls ...string) {
	e.mu.Lock()
	e.urls = urls
	e.mu.Unlock()
}

func waitReady(t *testing.T, r *server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get(r.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("replica never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retryable is what the API documents as safe to send again with the same
// client_order_id: the connection failed, or the outcome is unknown (503).
func retryable(status int, err error) bool {
	var op *net.OpError
	return err != nil && (errors.As(err, &op) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset")) ||
		status == http.StatusServiceUnavailable
}

// A rollout of a two-replica setup under a steady load, as a Deployment
// with maxUnavailable 0 does it: a new replica starts and becomes ready,
// then an old one is taken out of the endpoints and sent SIGTERM, twice.
// The leader hands its leadership over as it stops; no acknowledged order
// is lost and no client sees a failure that its documented retry (the same
// client_order_id, on 503 or a broken connection) does not absorb.
func TestRollingRestartUnderLoad(t *testing.T) {
	dbURL := pgtest.URL(t)
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	a := startReplica(t, dbURL)
	select {
	case <-a.leader:
	case <-time.After(20 * time.Second):
		t.Fatal("first replica did not lead")
	}
	b := startReplica(t, dbURL)
	waitReady(t, b)
	var bots []*bot
	for i := range 4 {
		bots = append(bots, newBot(t, b, fmt.Sprintf("r%d@example.com", i)))
	}
	live := &endpoints{}
	live.set(a.url, b.url)

	var mu sync.Mutex
	acks := map[string]ack{}
	var retries, failures atomic.Int64
	var failed []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			stream := orderStream(uint64(200+w), 100000)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond): // about 400 orders/s in all
				}
				o := stream[i]
				o["client_order_id"] = fmt.Sprintf("w%d-%d", w, i)
				var status int
				var body []byte
				var err error
				for attempt := 0; attempt < 20; attempt++ {
					if attempt > 0 {
						retries.Add(1)
						time.Sleep(50 * time.Millisecond)
					}
					status, body, err = bots[w%len(bots)].order(live.pick(), o)
					if !retryable(status, err) {
						break
					}
				}
				if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
					failures.Add(1)
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %d %s %v", o["client_order_id"], status, body, err))
					mu.Unlock()
					continue
				}
				var k ack
				if err := json.Unmarshal(body, &k); err != nil {
					t.Errorf("ack body: %s", body)
					continue
				}
				mu.Lock()
				acks[k.ClientOrderID] = k
				mu.Unlock()
			}
		})
	}

	// roll replaces old by a new replica and reports how long the
	// leadership took to move, when old led.
	leading := a
	roll := func(old *server, keep *server) (*server, time.Duration) {
		time.Sleep(time.Second)
		fresh := startReplica(t, dbURL)
		waitReady(t, fresh)
		live.set(keep.url, fresh.url)
		// Endpoints change a moment before the kubelet's SIGTERM lands.
		time.Sleep(100 * time.Millisecond)
		stopped := time.Now()
		if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var handOff time.Duration
		if old == leading {
			select {
			case at := <-keep.leader:
				handOff, leading = at.Sub(stopped), keep
			case at := <-fresh.leader:
				handOff, leading = at.Sub(stopped), fresh
			case <-time.After(30 * time.Second):
				t.Fatal("neither the kept nor the new replica took over")
			}
		}
		select {
		case <-old.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the stopped replica did not exit")
		}
		return fresh, handOff
	}
	c, first := roll(a, b)
	_, second := roll(b, c)
	time.Sleep(time.Second) // trade on the new pair
	close(stop)
	wg.Wait()
	handOff := max(first, second) // one of the two stopped the leader
	t.Logf("rollout: leadership handed over %.3fs after SIGTERM of the leader; %d orders acknowledged, %d retries absorbed, %d failures",
		handOff.Seconds(), len(acks), retries.Load(), failures.Load())
	if failures.Load() > 0 {
		t.Fatalf("%d orders failed for the client despite retries, e.g. %v", failures.Load(), failed[:min(5, len(failed))])
	}
	if handOff == 0 || handOff > 5*time.Second {
		t.Fatalf("the leader's SIGTERM handed the leadership over in %s", handOff)
	}
	if len(acks) < 200 {
		t.Fatalf("only %d orders acknowledged: the load tested little", len(acks))
	}

	ids := make([]string, 0, len(acks))
	for _, k := range acks {
		ids = append(ids, k.ID)
	}
	out, err := exec.Command("psql", dbURL, "-At", "-F", " ", "-c",
		fmt.Sprintf(`SELECT client_order_id, id FROM orders WHERE id IN (%s)`, strings.Join(ids, ","))).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if k, ok := acks[f[0]]; !ok || k.ID != f[1] {
			t.Errorf("order %s has id %s in the database; acknowledged %+v", f[0], f[1], k)
		}
		found++
	}
	if found != len(acks) {
		t.Fatalf("%d of %d acknowledged orders found", found, len(acks))
	}
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "check-ledger"); r.code != 0 {
		t.Fatalf("check-ledger after the rollout:\n%s%s", r.stdout, r.stderr)
	}
}
