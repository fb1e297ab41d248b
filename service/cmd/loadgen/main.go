// Command loadgen drives a running exchange (in demo mode) through its HTTP
// API or its order-entry WebSocket and prints the orders per second and
// acknowledgement latencies it achieved. See docs/performance.md for the runs we record.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/loadgen"
)

func main() {
	var cfg loadgen.Config
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "exchange base URL")
	flag.IntVar(&cfg.Traders, "traders", 50, "traders to sign up and fund")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "concurrent requests in flight")
	flag.Float64Var(&cfg.Rate, "rate", 0, "target requests per second over all workers (0: as fast as acknowledged)")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to drive load")
	flag.StringVar(&cfg.Market, "market", "BTC-USDT", "market to trade")
	flag.IntVar(&cfg.LimitWeight, "limit", 80, "weight of limit orders in the mix")
	flag.IntVar(&cfg.MarketWeight, "market-orders", 5, "weight of market orders in the mix")
	flag.IntVar(&cfg.CancelWeight, "cancel", 15, "weight of cancels in the mix")
	flag.StringVar(&cfg.MidPrice, "mid", "30000", "price limit orders centre on")
	flag.StringVar(&cfg.Tick, "tick", "0.01", "the market's tick size")
	flag.IntVar(&cfg.Spread, "spread", 200, "ticks either side of mid that limit prices spread over")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	flag.IntVar(&cfg.Batch, "batch", 1, "orders per placement request (more than 1 uses POST /api/v1/orders/batch, at most 50)")
	flag.IntVar(&cfg.WSSubscribers, "ws-subscribers", 0, "WebSocket subscribers to the market's trades whose delivery latency to measure")
	flag.BoolVar(&cfg.WSOrders, "ws-orders", false, "send orders and cancels over one authenticated WebSocket per trader instead of HTTP requests (-batch > 1: place_batch)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
}
