package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// server is one `exchange serve` process.
type server struct {
	t   *testing.T
	cmd *exec.Cmd
	url string
	// internalURL serves /metrics.
	internalURL string
	leader      chan time.Time // when it logged that it leads
	done        chan struct{}
}

func startReplica(t *testing.T, dbURL string, extraEnv ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dbURL, "HTTP_ADDR=127.0.0.1:0", "INTERNAL_ADDR=127.0.0.1:0", "RATE_LIMITS=off",
		"SECRET_KEY=" + strings.Repeat("r", 32), "EXCHANGE_MODE=demo", "SECURE_COOKIES=false", "LOG_LEVEL=info",
	}, extraEnv...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &server{t: t, cmd: cmd, leader: make(chan time.Time, 1), done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			switch m["msg"] {
			case "serving":
				r.internalURL = "http://" + m["internal_addr"].(string)
				urls <- "http://" + m["addr"].(string)
			case "sequencer: leading":
				r.leader <- time.Now()
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	select {
	case r.url = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatal("replica did not start")
	}
	return r
}

// bot is a trader with an API key, able to use any replica.
type bot struct {
	key, secret string
	nonce       atomic.Int64
}

func newBot(t *testing.T, via *server, email string) *bot {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(path, csrf string, in any, out any) {
		b, _ := json.Marshal(in)
		req, _ := http.NewRequest("POST", via.url+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, raw)
		}
		if out != nil {
			json.Unmarshal(raw, out)
		}
	}
	post("/api/v1/auth/register", "", map[string]string{"email": email, "password": "replica password"}, nil)
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	post("/api/v1/auth/login", "", map[string]string{"email": email, "password": "replica password"}, &login)
	var key struct {
		KeyID  string `json:"key_id"`
		Secret string `json:"secret"`
	}
	post("/api/v1/api-keys", login.CSRF, map[string]any{"scopes": []string{"read", "trade"}}, &key)
	post("/api/v1/deposits", login.CSRF, map[string]string{"asset": "BTC", "amount": "100"}, nil)
	post("/api/v1/deposits", login.CSRF, map[string]string{"asset": "USDT", "amount": "10000000"}, nil)
	return &bot{key: key.KeyID, secret: key.Secret}
}

// order sends a signed order to a replica and returns the status and body.
func (b *bot) order(base string, order map[string]any) (int, []byte, error) {
	body, _ := json.Marshal(order)
	return b.do(base, "POST", "/api/v1/orders", body)
}

// do sends one signed request; a nonce keeps repeated requests distinct.
func (b *bot) do(base, method, path string, body []byte) (int, []byte, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	path += sep + "n=" + strconv.FormatInt(b.nonce.Add(1), 10)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("EX-KEY", b.key)
	req.Header.Set("EX-TIMESTAMP", ts)
	req.Header.Set("EX-SIGNATURE", hex.EncodeToString(auth.Sign(b.secret, ts, method, path, body)))
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw, nil
}

func orderStream(seed uint64, n int) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]map[string]any, n)
	for i := range out {
		side := []string{"buy", "sell"}[rng.IntN(2)]
		o := map[string]any{"market": "BTC-USDT", "side": side, "type": "limit",
			"price": fmt.Sprintf("%d", 30000+rng.IntN(11)-5), "quantity": fmt.Sprintf("0.%03d", 1+rng.IntN(50)),
			"client_order_id": fmt.Sprintf("o-%d", i)}
		if rng.IntN(8) == 0 {
			o = map[string]any{"market": "BTC-USDT", "side": side, "type": "market", "quantity": "0.005", "client_order_id": fmt.Sprintf("o-%d", i)}
		}
		out[i] = o
	}
	return out
}

// dbState renders orders and trades without timestamps, for comparing runs.
func dbState(t *testing.T, dbURL string) string {
	t.Helper()
	out, err := exec.Command("psql", dbURL, "-At", "-v", "ON_ERROR_STOP=1", "-c",
		`SELECT string_agg(format('%s %s %s %s %s %s %s %s', id, user_id, client_order_id, side, status, filled_quantity, filled_quote, fee), E'\n' ORDER BY id) FROM orders`,
		"-c", `SELECT string_agg(format('%s %s %s %s %s %s %s', id, maker_order_id, taker_order_id, price, quantity, maker_fee, taker_fee), E'\n' ORDER BY id) FROM trades`).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return string(out)
}

// Two replicas on one database both accept orders, and the outcome equals
// a single replica fed the same orders in the same sequence.
func TestTwoReplicasMatchSingleWriter(t *testing.T) {
	orders := orderStream(11, 150)
	run := func(replicas int) string {
		dbURL := pgtest.URL(t)
		if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "migrate", "--seed"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		var rs []*server
		for range replicas {
			rs = append(rs, startReplica(t, dbURL))
		}
		bots := []*bot{newBot(t, rs[0], "a@example.com"), newBot(t, rs[len(rs)-1], "b@example.com"), newBot(t, rs[0], "c@example.com")}
		for i, o := range orders {
			r := rs[i%len(rs)]
			status, body, err := bots[i%len(bots)].order(r.url, o)
			if err != nil || status != 201 {
				t.Fatalf("order %d via replica %d: %d %s %v", i, i%len(rs), status, body, err)
			}
		}
		return dbState(t, dbURL)
	}
	single, double := run(1), run(2)
	if single != double {
		t.Fatalf("two replicas differ from one:\n--- one\n%s\n--- two\n%s", single, double)
	}
	if !strings.Contains(single, " filled ") {
		t.Fatal("no order filled: the stream tested nothing")
	}
}

type ack struct {
	ID             string `json:"id"`
	ClientOrderID  string `json:"client_order_id"`
	Status         string `json:"status"`
	FilledQuantity string `json:"filled_quantity"`
	FilledQuote    string `json:"filled_quote"`
	Fee            string `json:"fee"`
}

// kill -9 the leader in the middle of a load run: every acknowledged order
// must exist with exactly the fills it was acknowledged with (as taker),
// the books must balance, and the other replica must take over.
func TestLeaderKilledMidLoad(t *testing.T) {
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
	var bots []*bot
	for i := range 4 {
		bots = append(bots, newBot(t, b, fmt.Sprintf("k%d@example.com", i)))
	}

	var mu sync.Mutex
	acks := map[string]ack{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := orderStream(uint64(100+w), 3000)
			for i := 0; i < len(stream); i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := stream[i]
				o["client_order_id"] = fmt.Sprintf("w%d-%d", w, i)
				target := []string{a.url, b.url}[i%2]
				status, body, err := bots[w%len(bots)].order(target, o)
				if err != nil || status != 201 {
					failures.Add(1)
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
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	killed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var tookOver time.Duration
	select {
	case at := <-b.leader:
		tookOver = at.Sub(killed)
	case <-time.After(30 * time.Second):
		t.Fatal("the surviving replica never took over")
	}
	time.Sleep(1500 * time.Millisecond) // keep trading on the new leader
	close(stop)
	wg.Wait()
	t.Logf("failover: replica took over %.2fs after kill -9 of the leader; %d orders acknowledged, %d refused or failed in flight", tookOver.Seconds(), len(acks), failures.Load())

	checkAcks(t, dbURL, acks)
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "check-ledger"); r.code != 0 {
		t.Fatalf("check-ledger after the crash:\n%s%s", r.stdout, r.stderr)
	}
}

// checkAcks proves every acknowledged order exists, with exactly the taker
// fills (base, quote and fee) it was acknowledged with; later fills can
// only come as a maker.
func checkAcks(t *testing.T, dbURL string, acks map[string]ack) {
	t.Helper()
	ids := make([]string, 0, len(acks))
	for _, k := range acks {
		ids = append(ids, k.ID)
	}
	out, err := exec.Command("psql", dbURL, "-At", "-F", " ", "-c", fmt.Sprintf(`
		SELECT o.client_order_id, o.id, coalesce(sum(t.quantity), 0), coalesce(sum(t.quote_quantity), 0), coalesce(sum(t.taker_fee), 0)
		FROM orders o LEFT JOIN trades t ON t.taker_order_id = o.id
		WHERE o.id IN (%s) GROUP BY o.client_order_id, o.id`, strings.Join(ids, ","))).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		k := acks[f[0]]
		if f[1] != k.ID {
			t.Errorf("order %s: id %s in the database, acknowledged as %s", f[0], f[1], k.ID)
		}
		if !sameAmount(f[2], k.FilledQuantity) || !sameAmount(f[3], k.FilledQuote) || !sameAmount(f[4], k.Fee) {
			t.Errorf("order %s: taker fills %s for %s, fee %s in the database; acknowledged %s for %s, fee %s",
				f[0], f[2], f[3], f[4], k.FilledQuantity, k.FilledQuote, k.Fee)
		}
		found++
	}
	if found != len(acks) || found == 0 {
		t.Fatalf("%d of %d acknowledged orders found", found, len(acks))
	}
}

func sameAmount(a, b string) bool {
	trim := func(s string) string {
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	return trim(a) == trim(b)
}

// Every replica streams what the leader commits: a subscriber on a
// follower sees trades placed through the leader.
func TestFollowerStreamsLeaderEvents(t *testing.T) {
	dbURL := pgtest.URL(t)
	if r := runBinary(t, []string{"DATABASE_URL=" + dbURL}, "", "migrate", "--seed"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	leader := startReplica(t, dbURL)
	<-leader.leader
	follower := startReplica(t, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The follower is ready once its market data is in sync.
	for {
		res, err := http.Get(follower.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("follower never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ws, _, err := websocket.Dial(ctx, strings.Replace(follower.url, "http", "ws", 1)+"/api/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","channels":["trades:BTC-USDT"]}`))
	// The trades channel sends no snapshot: a trade before the
	// subscription is in force would be missed, so trade only after it is.
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("no answer to the subscription: %v", err)
		}
		if strings.Contains(string(data), `"type":"subscribed"`) {
			break
		}
	}
	seller, buyer := newBot(t, leader, "s@example.com"), newBot(t, leader, "b@example.com")
	if st, body, _ := seller.order(leader.url, map[string]any{"market": "BTC-USDT", "side": "sell", "type": "limit", "price": "30000", "quantity": "0.01"}); st != 201 {
		t.Fatalf("sell: %d %s", st, body)
	}
	if st, body, _ := buyer.order(leader.url, map[string]any{"market": "BTC-USDT", "side": "buy", "type": "market", "quantity": "0.01"}); st != 201 {
		t.Fatalf("buy: %d %s", st, body)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("no trade reached the follower's subscriber: %v", err)
		}
		if strings.Contains(string(data), `"type":"trades"`) && strings.Contains(string(data), `"price":"30000"`) {
			return
		}
	}
}
