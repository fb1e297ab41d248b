// Command orderbench measures order entry against the database it commits
// to, in one run on one machine: PostgreSQL's own rate of durable
// single-row commits from 16 pgbench clients (before and after the load,
// so a noisy run shows), then the exchange's acknowledged orders per
// second and latencies for single-order HTTP requests, batched requests
// and WebSocket order entry, each as a ratio to that commit rate. It
// starts its own durable PostgreSQL, builds the exchange and runs it as a
// separate process. scripts/perf.sh runs it; docs/performance.md records
// its figures. It prints numbers and asserts nothing.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/loadgen"
	"github.com/crypto-exchange/exchange/service/internal/localpg"
)

// The targets of issue 13, as ratios to the 16-client commit rate, and
// the latency bound at 5,000 orders/s offered in batches.
const (
	targetSingle  = 0.5
	targetBatched = 1.5
	targetWS      = 1.5
	targetP99     = 50 * time.Millisecond
)

type options struct {
	duration time.Duration // of each load phase
	pgbench  time.Duration // of each pgbench phase
	traders  int
	quick    bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long each load phase runs")
	flag.DurationVar(&o.pgbench, "pgbench", 10*time.Second, "how long each pgbench phase runs")
	flag.IntVar(&o.traders, "traders", 32, "traders to sign up for each phase")
	flag.BoolVar(&o.quick, "quick", false, "a short run that only proves the measurement works (scripts/test.sh)")
	flag.Parse()
	if o.quick {
		o.duration, o.pgbench, o.traders = 2*time.Second, 2*time.Second, 4
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "orderbench:", err)
		os.Exit(1)
	}
}

// phase is one load shape.
type phase struct {
	name string
	cfg  loadgen.Config
	// target is the ratio to reach, or the p99 bound when latency is set.
	target  float64
	latency bool
}

type result struct {
	phase
	orders   float64 // per second, acknowledged after commit
	p50, p99 time.Duration
	errs     map[string]int64
}

func run(ctx context.Context, o options) error {
	work, err := os.MkdirTemp("", "orderbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	binary := filepath.Join(work, "exchange")
	fmt.Fprintln(os.Stderr, "building exchange")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/crypto-exchange/exchange/service/cmd/exchange").CombinedOutput(); err != nil {
		return fmt.Errorf("build exchange: %v\n%s", err, out)
	}
	// Durable, as in production: fsync and synchronous commit on.
	pg, err := localpg.Start(ctx, localpg.Options{Settings: map[string]string{"max_connections": "200"}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE exchange", "CREATE DATABASE bench"); err != nil {
		return err
	}
	if err := pg.Exec(ctx, "bench", "CREATE TABLE commits (id bigserial PRIMARY KEY, v bigint NOT NULL)"); err != nil {
		return err
	}

	before, err := pgbench(ctx, pg, work, o.pgbench)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pgbench before: %.0f commits/s\n", before)

	env := []string{
		"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + pg.URL("exchange"), "INTERNAL_ADDR=127.0.0.1:0",
		"RATE_LIMITS=off", "SECRET_KEY=" + randomHex(32), "EXCHANGE_MODE=demo", "SECURE_COOKIES=false", "LOG_LEVEL=warn",
	}
	if out, err := exchangeCmd(ctx, binary, env, "migrate", "--seed").CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	url, stopServer, err := serve(ctx, binary, env)
	if err != nil {
		return err
	}
	defer stopServer()

	base := loadgen.Config{
		URL: url, Traders: o.traders, Duration: o.duration, Market: "BTC-USDT",
		LimitWeight: 80, MarketWeight: 5, CancelWeight: 15, MidPrice: "30000", Tick: "0.01", Spread: 200, Seed: 1,
	}
	with := func(f func(*loadgen.Config)) loadgen.Config { c := base; f(&c); return c }
	phases := []phase{
		{name: "single-order HTTP requests (256 in flight)", target: targetSingle,
			cfg: with(func(c *loadgen.Config) { c.Concurrency, c.Batch = 256, 1 })},
		{name: "batched HTTP requests, 20 orders each (64 in flight)", target: targetBatched,
			cfg: with(func(c *loadgen.Config) { c.Concurrency, c.Batch = 64, 20 })},
		{name: "WebSocket order entry, one order per command (1,024 in flight)", target: targetWS,
			cfg: with(func(c *loadgen.Config) { c.Concurrency, c.WSOrders = 1024, true })},
		{name: "WebSocket order entry, place_batch of 20 (64 in flight)", target: targetWS,
			cfg: with(func(c *loadgen.Config) { c.Concurrency, c.Batch, c.WSOrders = 64, 20, true })},
		{name: "5,000 orders/s offered in batches of 20", latency: true, target: targetP99.Seconds(),
			cfg: with(func(c *loadgen.Config) { c.Concurrency, c.Batch, c.Rate, c.CancelWeight = 64, 20, 250, 0 })},
	}
	var results []result
	for _, p := range phases {
		fmt.Fprintf(os.Stderr, "phase: %s\n", p.name)
		rep, err := loadgen.Run(ctx, p.cfg, os.Stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		results = append(results, result{phase: p, orders: float64(rep.Orders) / rep.Duration.Seconds(),
			p50: rep.Percentile(50), p99: rep.Percentile(99), errs: rep.Errors})
	}
	stopServer()

	after, err := pgbench(ctx, pg, work, o.pgbench)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pgbench after: %.0f commits/s\n", after)
	if out, err := exchangeCmd(ctx, binary, env, "check-ledger").CombinedOutput(); err != nil {
		return fmt.Errorf("check-ledger after the load: %v\n%s", err, out)
	}
	report(os.Stdout, pg, before, after, results)
	return nil
}

// report prints the Markdown table for docs/performance.md. Ratios are to
// the lower of the two commit rates, the conservative reading.
func report(w io.Writer, pg *localpg.Server, before, after float64, results []result) {
	commits := min(before, after)
	version, _ := exec.Command(filepath.Join(pg.BinDir(), "postgres"), "--version").Output()
	fmt.Fprintf(w, "%s; %d CPUs; PostgreSQL durable single-row commits from 16 pgbench clients: %.0f/s before the load, %.0f/s after.\n\n",
		strings.TrimSpace(string(version)), runtime.NumCPU(), before, after)
	fmt.Fprintln(w, "| load | orders acknowledged/s | ratio to commits/s | p50 / p99 ack | target | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		ratio := r.orders / commits
		target := fmt.Sprintf("ratio ≥ %.1f: %s", r.target, met(ratio >= r.target))
		if r.latency {
			target = fmt.Sprintf("p99 < %s: %s", targetP99, met(r.p99 < targetP99))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %s / %s | %s | %s |\n", r.name, r.orders, ratio,
			r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), target, errorText(r.errs))
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func errorText(errs map[string]int64) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range errs {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(parts, " ")
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench measures durable single-row commits per second from 16 clients:
// each transaction is one INSERT, committed on its own.
func pgbench(ctx context.Context, pg *localpg.Server, work string, d time.Duration) (float64, error) {
	script := filepath.Join(work, "commit.sql")
	if err := os.WriteFile(script, []byte("INSERT INTO commits (v) VALUES (1);\n"), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(pg.BinDir(), "pgbench"), "-n", "-c", "16", "-j", "2",
		"-T", strconv.Itoa(max(1, int(d.Seconds()))), "-f", script, pg.URL("bench"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %v\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no rate:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func exchangeCmd(ctx context.Context, binary string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	return cmd
}

// serve starts `exchange serve` on a free port and waits until it is
// ready: schema current, sequencer leading, market data in sync.
func serve(ctx context.Context, binary string, env []string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exchangeCmd(context.WithoutCancel(ctx), binary, append(env, "HTTP_ADDR="+addr), "serve")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		})
	}
	url := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get(url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("the exchange was not ready within 60 s:\n%s", logs.String())
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
