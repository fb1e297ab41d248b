// Package loadgen drives a running exchange through its public API (HTTP,
// or order entry over the WebSocket) the way a crowd of bots would: it signs up traders, funds them with demo
// deposits, and places, takes and cancels orders at a chosen rate, timing
// every acknowledgement. It prints what it achieved; it asserts nothing.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Config describes one run.
type Config struct {
	URL         string
	Traders     int
	Concurrency int
	// Rate is the target orders per second over all workers; 0 is as fast
	// as the exchange answers.
	Rate     float64
	Duration time.Duration
	Market   string
	// Mix weights: limit orders (resting or crossing), market orders, and
	// cancels of the trader's own open orders.
	LimitWeight, MarketWeight, CancelWeight int
	// MidPrice is where limit prices are centred; Spread is how many
	// ticks either side they spread over.
	MidPrice string
	Tick     string
	Spread   int
	Seed     uint64
	// Batch places this many orders per request through
	// POST /api/v1/orders/batch; 1 uses POST /api/v1/orders.
	Batch int
	// WSSubscribers, if set, opens that many WebSocket connections
	// subscribed to the market's trades before the load starts, and
	// measures each trade's delivery from its commit to the subscriber.
	WSSubscribers int
	// WSOrders sends orders and cancels over one authenticated WebSocket
	// per trader instead of HTTP requests (batches as place_batch).
	WSOrders bool
}

// Error tallies for calls that failed in the load generator, not refusals
// by the exchange: a run with any of them did not measure what it says.
const (
	ErrTransport  = "transport"         // the request or its answer was cut
	ErrUnreadable = "unreadable_answer" // a socket answer could not be decoded
)

// Report is what a run achieved.
type Report struct {
	Sent      int64
	Acked     int64 // 2xx
	Errors    map[string]int64
	Duration  time.Duration
	Latencies []time.Duration // of acked requests, sorted
	Orders    int64           // orders placed (acknowledged after commit)
	Trades    int64           // orders that traded on arrival
	// Fan-out: trade messages received over all subscribers, their
	// delivery latencies (sorted), and subscribers that were cut off.
	Deliveries   []time.Duration
	Disconnected int64
}

// Percentile returns the p-th percentile (0..100) ack latency.
func (r *Report) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p/100*float64(len(sorted)-1))]
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	secs := r.Duration.Seconds()
	fmt.Fprintf(w, "requests: %d sent, %d acknowledged (2xx) in %.1fs = %.0f acked/s\n", r.Sent, r.Acked, secs, float64(r.Acked)/secs)
	fmt.Fprintf(w, "orders placed: %d = %.0f orders/s acknowledged after commit\n", r.Orders, float64(r.Orders)/secs)
	fmt.Fprintf(w, "ack latency: p50 %s  p90 %s  p99 %s  max %s\n",
		r.Percentile(50).Round(10*time.Microsecond), r.Percentile(90).Round(10*time.Microsecond),
		r.Percentile(99).Round(10*time.Microsecond), r.Percentile(100).Round(10*time.Microsecond))
	fmt.Fprintf(w, "orders that traded on arrival: %d\n", r.Trades)
	if len(r.Deliveries) > 0 || r.Disconnected > 0 {
		round := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
		fmt.Fprintf(w, "websocket fan-out: %d trade messages delivered, commit to subscriber p50 %s  p99 %s  max %s; %d subscribers cut off\n",
			len(r.Deliveries), round(percentile(r.Deliveries, 50)), round(percentile(r.Deliveries, 99)), round(percentile(r.Deliveries, 100)), r.Disconnected)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, r.Errors[k]))
	}
	fmt.Fprintf(w, "errors: %s\n", strings.Join(parts, " "))
}

// trader is one signed-up bot with an API key.
type trader struct {
	key, secret string
	socket      *orderSocket // with WSOrders
	mu          sync.Mutex
	open        []string
}

// Run signs up and funds the traders, then drives load for cfg.Duration.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	if cfg.Traders < 1 || cfg.Concurrency < 1 {
		return nil, ErrNoTraders
	}
	if _, err := money.Parse(cfg.MidPrice); err != nil {
		return nil, fmt.Errorf("loadgen: mid price %q: %w", cfg.MidPrice, err)
	}
	if _, err := money.Parse(cfg.Tick); err != nil {
		return nil, fmt.Errorf("loadgen: tick %q: %w", cfg.Tick, err)
	}
	base, err := parseBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second} // for signing up; the load has its own connections
	fmt.Fprintf(log, "signing up and funding %d traders...\n", cfg.Traders)
	traders := make([]*trader, cfg.Traders)
	run := time.Now().UnixNano()
	errc := make(chan error, cfg.Traders)
	var wg sync.WaitGroup
	// Password hashing is deliberately expensive: sign up a few at a time.
	slots := make(chan struct{}, 4)
	for i := range traders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			t, err := signUp(ctx, hc, cfg, fmt.Sprintf("loadgen-%d-%d@example.com", run, i))
			if err != nil {
				errc <- err
				return
			}
			traders[i] = t
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	if cfg.WSOrders {
		for _, t := range traders {
			var err error
			if t.socket, err = dialOrders(ctx, cfg.URL, t); err != nil {
				return nil, err
			}
			defer t.socket.close()
		}
	}

	rep := &Report{Errors: map[string]int64{}}
	var fanout *subscribers
	if cfg.WSSubscribers > 0 {
		fmt.Fprintf(log, "opening %d WebSocket subscribers...\n", cfg.WSSubscribers)
		var err error
		if fanout, err = subscribe(ctx, cfg); err != nil {
			return nil, err
		}
		defer fanout.close()
	}

	fmt.Fprintf(log, "driving %s for %s with %d workers (target %s)...\n", cfg.Market, cfg.Duration, cfg.Concurrency, rateText(cfg.Rate))
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var mu sync.Mutex
	var sent, acked, placed, trades atomic.Int64
	var nonce atomic.Int64
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)))
			conn := &httpConn{ctx: ctx, base: base}
			var lat []time.Duration
			errs := map[string]int64{}
			var interval time.Duration
			if cfg.Rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(cfg.Concurrency) / cfg.Rate)
			}
			next := time.Now().Add(time.Duration(rng.Int64N(int64(interval) + 1)))
			for ctx.Err() == nil {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(d):
						}
						if ctx.Err() != nil {
							break
						}
					}
					next = next.Add(interval)
				}
				t := traders[rng.IntN(len(traders))]
				method, path, body := nextRequest(cfg, rng, t)
				sent.Add(1)
				t0 := time.Now()
				var a answer
				var err error
				if t.socket != nil {
					a, err = t.socket.call(ctx, command(method, path, body))
				} else {
					path += "?n=" + strconv.FormatInt(nonce.Add(1), 10)
					var status int
					var raw []byte
					if status, raw, err = conn.do(t, method, path, body); err == nil {
						a = httpAnswer(status, raw, method, cfg.Batch > 1)
					}
				}
				elapsed := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errs[ErrTransport]++
					}
				case a.Status/100 == 2:
					acked.Add(1)
					lat = append(lat, elapsed)
					if method == http.MethodPost {
						n, traded := record(t, &a, errs)
						placed.Add(n)
						trades.Add(traded)
					}
				default:
					errs[a.errorCode()]++
				}
			}
			conn.close()
			mu.Lock()
			rep.Latencies = append(rep.Latencies, lat...)
			for k, v := range errs {
				rep.Errors[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(start)
	rep.Sent, rep.Acked, rep.Orders, rep.Trades = sent.Load(), acked.Load(), placed.Load(), trades.Load()
	slices.Sort(rep.Latencies)
	if fanout != nil {
		// Let the last trades arrive before counting.
		time.Sleep(500 * time.Millisecond)
		rep.Deliveries, rep.Disconnected = fanout.results()
	}
	return rep, nil
}

func rateText(r float64) string {
	if r <= 0 {
		return "as fast as acknowledged"
	}
	return fmt.Sprintf("%.0f req/s", r)
}

// nextRequest picks a limit order, a market order, or a cancel by weight.
func nextRequest(cfg Config, rng *rand.Rand, t *trader) (string, string, []byte) {
	total := cfg.LimitWeight + cfg.MarketWeight + cfg.CancelWeight
	pick := rng.IntN(max(total, 1))
	if pick >= cfg.LimitWeight+cfg.MarketWeight {
		t.mu.Lock()
		var id string
		if n := len(t.open); n > 0 {
			i := rng.IntN(n)
			id = t.open[i]
			t.open[i] = t.open[n-1]
			t.open = t.open[:n-1]
		}
		t.mu.Unlock()
		if id != "" {
			return http.MethodDelete, "/api/v1/orders/" + id, nil
		}
	}
	order := func() orderRequest {
		side := []string{"buy", "sell"}[rng.IntN(2)]
		qty := "0.00" + strconv.Itoa(1+rng.IntN(9))
		if rng.IntN(max(cfg.LimitWeight+cfg.MarketWeight, 1)) >= cfg.LimitWeight {
			return orderRequest{Market: cfg.Market, Side: side, Type: "market", Quantity: qty}
		}
		return orderRequest{Market: cfg.Market, Side: side, Type: "limit", Price: limitPrice(cfg, rng), Quantity: qty}
	}
	if cfg.Batch <= 1 {
		b, _ := json.Marshal(order())
		return http.MethodPost, "/api/v1/orders", b
	}
	batch := struct {
		Orders []orderRequest `json:"orders"`
	}{make([]orderRequest, cfg.Batch)}
	for i := range batch.Orders {
		batch.Orders[i] = order()
	}
	b, _ := json.Marshal(batch)
	return http.MethodPost, "/api/v1/orders/batch", b
}

// orderRequest is an order as the API takes it. The load generator shares
// the machine it measures, so its requests are structs, not maps, and its
// answers are read with go-json-experiment: its CPU is the exchange's loss.
type orderRequest struct {
	Market   string `json:"market"`
	Side     string `json:"side"`
	Type     string `json:"type"`
	Price    string `json:"price,omitempty"`
	Quantity string `json:"quantity"`
}

func limitPrice(cfg Config, rng *rand.Rand) string {
	mid, tick := money.MustParse(cfg.MidPrice), money.MustParse(cfg.Tick)
	offset := money.Amount(rng.IntN(2*cfg.Spread+1) - cfg.Spread)
	return (mid + offset*tick).Fixed(tick.Decimals())
}

type orderAck struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	FilledQuantity string `json:"filled_quantity"`
}

// answer is what the load generator reads of an order call's answer, over
// either transport, in one decode: an order (placed or cancelled), a
// batch's results, or an error.
type answer struct {
	Status  int       `json:"status"`
	Order   *orderAck `json:"order"`
	Results []struct {
		Order *orderAck  `json:"order"`
		Error *errorBody `json:"error"`
	} `json:"results"`
	Error *errorBody `json:"error"`
}

type errorBody struct {
	Code string `json:"code"`
}

// httpAnswer reads a REST answer: the order itself for one order, results
// for a batch, an error otherwise. A cancel's order is not read.
func httpAnswer(status int, body []byte, method string, isBatch bool) answer {
	var a answer
	switch {
	case status/100 != 2 || isBatch:
		_ = jsonv2.Unmarshal(body, &a)
	case method == http.MethodPost:
		a.Order = new(orderAck)
		if jsonv2.Unmarshal(body, a.Order) != nil {
			a.Order = nil
		}
	}
	a.Status = status
	return a
}

func (a *answer) errorCode() string {
	if a.Error != nil && a.Error.Code != "" {
		return a.Error.Code
	}
	return "http_" + strconv.Itoa(a.Status)
}

// record counts the orders a placement answer (of a batch, or of one
// order) acknowledged, remembers the trader's resting ones for later
// cancels, counts those that traded on arrival, and tallies refused batch
// items in errs.
func record(t *trader, a *answer, errs map[string]int64) (placed, traded int64) {
	count := func(o *orderAck) {
		placed++
		if o.FilledQuantity != "" && o.FilledQuantity != "0" {
			traded++
		}
		if o.Status == "open" || o.Status == "partially_filled" {
			t.mu.Lock()
			if len(t.open) < 1000 {
				t.open = append(t.open, o.ID)
			}
			t.mu.Unlock()
		}
	}
	if a.Order != nil {
		count(a.Order)
	}
	for _, r := range a.Results {
		switch {
		case r.Order != nil:
			count(r.Order)
		case r.Error != nil:
			errs[r.Error.Code]++
		}
	}
	return placed, traded
}

// signUp registers a trader, logs in, makes an API key and funds it.
func signUp(ctx context.Context, hc *http.Client, cfg Config, email string) (*trader, error) {
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: hc.Timeout, Transport: hc.Transport}
	const password = "loadgen password 123"
	post := func(path, csrf string, in, out any) error {
		b, _ := json.Marshal(in)
		for attempt := 1; ; attempt++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			if csrf != "" {
				req.Header.Set("X-CSRF-Token", csrf)
			}
			res, err := web.Do(req)
			if err != nil {
				return err
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusTooManyRequests && attempt < 10 {
				// The server bounds the password hashes it runs at once
				// and tells a client in a busy moment when to come back.
				secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(max(secs, 1)) * time.Second):
				}
				continue
			}
			if res.StatusCode/100 != 2 {
				return fmt.Errorf("POST %s: %d %s", path, res.StatusCode, raw)
			}
			if out != nil {
				return json.Unmarshal(raw, out)
			}
			return nil
		}
	}
	if err := post("/api/v1/auth/register", "", map[string]string{"email": email, "password": password}, nil); err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	var login struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := post("/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, &login); err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	var key struct {
		KeyID  string `json:"key_id"`
		Secret string `json:"secret"`
	}
	if err := post("/api/v1/api-keys", login.CSRFToken, map[string]any{"label": "loadgen", "scopes": []string{"read", "trade"}}, &key); err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	base, quote, _ := strings.Cut(cfg.Market, "-")
	for asset, amount := range map[string]string{base: "1000", quote: "100000000"} {
		if err := post("/api/v1/deposits", login.CSRFToken, map[string]string{"asset": asset, "amount": amount}, nil); err != nil {
			return nil, fmt.Errorf("fund (the exchange must run in demo mode): %w", err)
		}
	}
	return &trader{key: key.KeyID, secret: key.Secret}, nil
}

// ErrNoTraders is returned for a config without traders or workers.
var ErrNoTraders = errors.New("loadgen: need at least one trader and one worker")
