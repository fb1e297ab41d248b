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
	"runtime/pprof"
	"slices"
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
	// against is a prebuilt exchange binary to compare with the one built
	// from this tree, phase by phase in the same run (A/B); empty: none.
	against string
	// rounds is how many A/B pairs each phase runs, alternating which
	// goes first (ABBA...), so a drift in the machine's load cancels out.
	rounds int
	// phases picks phases by number (1-5, comma-separated); empty: all.
	phases string
	// pgSettings are extra server settings, "name=value,...".
	pgSettings string
	// profile is a directory for a CPU profile of the exchange (this
	// tree's binary) during each phase; empty: none.
	profile string
	// bEnv is extra environment (KEY=VALUE, comma-separated) for B only:
	// A/B of a setting.
	bEnv string
	// statements prints the exchange's statements by PostgreSQL time
	// after the run (pg_stat_statements).
	statements bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long each load phase runs")
	flag.DurationVar(&o.pgbench, "pgbench", 10*time.Second, "how long each pgbench phase runs")
	flag.IntVar(&o.traders, "traders", 32, "traders to sign up for each phase")
	flag.BoolVar(&o.quick, "quick", false, "a short run that only proves the measurement works (scripts/test.sh)")
	flag.StringVar(&o.against, "against", "", "a prebuilt exchange binary (A) to compare phase by phase with this tree's (B)")
	flag.IntVar(&o.rounds, "rounds", 2, "with -against: A/B pairs per phase, alternating which runs first")
	flag.StringVar(&o.phases, "phases", "", "phases to run by number, e.g. 1,2 (default all)")
	flag.StringVar(&o.bEnv, "b-env", "", "with -against: extra KEY=VALUE settings, comma-separated, for B only")
	flag.BoolVar(&o.statements, "statements", false, "print the statements that took PostgreSQL's time (pg_stat_statements)")
	flag.StringVar(&o.profile, "profile", "", "write CPU profiles of this tree's exchange and of the load generator during each phase into this directory")
	flag.StringVar(&o.pgSettings, "pg-settings", "", "extra PostgreSQL settings NAME=VALUE, comma-separated (pgbench runs with them too)")
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
	// CPU time per acknowledged order of the exchange process and of
	// PostgreSQL's processes.
	exchangeCPU, postgresCPU time.Duration
	// loadgenCPU is the load generator's (this process's) CPU per order.
	loadgenCPU time.Duration
	// peakMiB is the exchange process's peak resident memory.
	peakMiB float64
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
	settings := map[string]string{"max_connections": "200"}
	for _, kv := range strings.Split(o.pgSettings, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			settings[k] = v
		}
	}
	if o.statements {
		settings["shared_preload_libraries"] = "pg_stat_statements"
	}
	pg, err := localpg.Start(ctx, localpg.Options{Settings: settings})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if o.statements {
		if err := pg.Exec(ctx, "postgres", "CREATE EXTENSION pg_stat_statements"); err != nil {
			return err
		}
		defer printStatements(pg)
	}
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
		"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + pg.URL("exchange"), "INTERNAL_ADDR=127.0.0.1:0", // serve sets its own
		"RATE_LIMITS=off", "SECRET_KEY=" + randomHex(32), "EXCHANGE_MODE=demo", "SECURE_COOKIES=false", "LOG_LEVEL=warn",
	}
	if out, err := exchangeCmd(ctx, binary, env, "migrate", "--seed").CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	base := loadgen.Config{
		Traders: o.traders, Duration: o.duration, Market: "BTC-USDT",
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
	if phases, err = pick(phases, o.phases); err != nil {
		return err
	}
	// The postmaster's pid, from its data directory: its children are
	// the backends whose CPU time counts.
	pidFile, err := os.ReadFile(filepath.Join(pg.Dir(), "data", "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("postmaster pid: %w", err)
	}
	postmaster, _ := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	profiles := 0
	// drive runs one phase against a fresh server of the given binary.
	drive := func(bin string, p phase) (result, error) {
		// Each phase starts from a settled database, so that it does not
		// pay for the vacuuming and checkpoint the one before it left
		// (measured: the last phase's p99 was 25–260 ms after four
		// others, 24–40 ms on its own).
		if err := pg.Exec(ctx, "exchange", "VACUUM (ANALYZE)", "CHECKPOINT"); err != nil {
			return result{}, fmt.Errorf("settle the database: %w", err)
		}
		runEnv := slices.Clone(env)
		if bin == binary && o.bEnv != "" {
			runEnv = append(runEnv, strings.Split(o.bEnv, ",")...)
		}
		profiling := o.profile != "" && bin == binary
		if profiling {
			runEnv = append(runEnv, "PPROF_ADDR=127.0.0.1:16061")
		}
		srv, err := serve(ctx, bin, runEnv)
		if err != nil {
			return result{}, err
		}
		defer srv.stop()
		p.cfg.URL = srv.url
		pid := srv.pid
		// CPU per order is steadier than the rate on a shared machine: it
		// counts the work, not the waiting for cores others hold. It is
		// counted from when the load starts, after the sign-up, which the
		// load generator announces with "driving".
		var exBefore, pgBefore, lgBefore time.Duration
		var batchesBefore batchStats
		stopProfile := func() {}
		defer func() { stopProfile() }()
		marker := &lineWatch{w: os.Stderr, prefix: "driving", f: func() {
			exBefore, pgBefore, lgBefore = cpuOf(pid, false), cpuOf(postmaster, true), cpuOf(os.Getpid(), false)
			batchesBefore, _ = scrapeBatches(srv.metrics)
			if profiling {
				profiles++
				stopExchange := profileCPU(filepath.Join(o.profile, fmt.Sprintf("phase%d.pprof", profiles)), o.duration)
				stopSelf := profileSelf(filepath.Join(o.profile, fmt.Sprintf("loadgen%d.pprof", profiles)))
				stopProfile = func() { stopSelf(); stopExchange() }
			}
		}}
		rep, err := loadgen.Run(ctx, p.cfg, marker)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", p.name, err)
		}
		// scripts/test.sh runs this briefly to keep it working: a phase
		// that measured nothing, or calls the load generator itself lost,
		// must fail it.
		if lost := rep.Errors[loadgen.ErrTransport] + rep.Errors[loadgen.ErrUnreadable]; rep.Orders == 0 || lost > 0 {
			return result{}, fmt.Errorf("%s: %d orders acknowledged, %d calls lost by the load generator (errors %v)", p.name, rep.Orders, lost, rep.Errors)
		}
		if after, err := scrapeBatches(srv.metrics); err == nil {
			fmt.Fprintf(os.Stderr, "  sequencer: %s\n", after.since(batchesBefore))
		}
		r := result{phase: p, orders: float64(rep.Orders) / rep.Duration.Seconds(),
			p50: rep.Percentile(50), p99: rep.Percentile(99), errs: rep.Errors}
		if rep.Orders > 0 && exBefore > 0 {
			r.exchangeCPU = (cpuOf(pid, false) - exBefore) / time.Duration(rep.Orders)
			r.postgresCPU = (cpuOf(postmaster, true) - pgBefore) / time.Duration(rep.Orders)
			r.loadgenCPU = (cpuOf(os.Getpid(), false) - lgBefore) / time.Duration(rep.Orders)
		}
		r.peakMiB = peakMiB(pid)
		return r, nil
	}
	var results []result
	var pairs [][2][]result // per phase: A's runs and B's
	for _, p := range phases {
		if o.against == "" {
			fmt.Fprintf(os.Stderr, "phase: %s\n", p.name)
			r, err := drive(binary, p)
			if err != nil {
				return err
			}
			results = append(results, r)
			continue
		}
		// A and B alternate which goes first, so that tables growing over
		// the run and a machine getting busier or quieter favour neither.
		var ab [2][]result
		for round := 0; round < o.rounds; round++ {
			for k := 0; k < 2; k++ {
				which := (round + k) % 2
				bin, label := o.against, "A"
				if which == 1 {
					bin, label = binary, "B"
				}
				fmt.Fprintf(os.Stderr, "phase: %s, round %d, %s\n", p.name, round+1, label)
				r, err := drive(bin, p)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "  %s: %.0f orders/s, p50 %s, p99 %s, CPU per order: exchange %s, PostgreSQL %s, load generator %s; exchange peak RSS %.0f MiB\n", label, r.orders,
					r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.exchangeCPU, r.postgresCPU, r.loadgenCPU, r.peakMiB)
				ab[which] = append(ab[which], r)
			}
		}
		pairs = append(pairs, ab)
	}

	after, err := pgbench(ctx, pg, work, o.pgbench)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "pgbench after: %.0f commits/s\n", after)
	if out, err := exchangeCmd(ctx, binary, env, "check-ledger").CombinedOutput(); err != nil {
		return fmt.Errorf("check-ledger after the load: %v\n%s", err, out)
	}
	if o.against != "" {
		reportAB(os.Stdout, before, after, pairs)
		return nil
	}
	report(os.Stdout, pg, before, after, results)
	return nil
}

// pick keeps the phases numbered in list (1-based, comma-separated).
func pick(phases []phase, list string) ([]phase, error) {
	if list == "" {
		return phases, nil
	}
	var out []phase
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > len(phases) {
			return nil, fmt.Errorf("-phases: %q is not a phase number 1-%d", f, len(phases))
		}
		out = append(out, phases[n-1])
	}
	return out, nil
}

// reportAB prints each phase's A and B runs side by side: rates as ratios
// to the higher commit rate, and B's mean rate over A's.
func reportAB(w io.Writer, before, after float64, pairs [][2][]result) {
	commits := max(before, after)
	fmt.Fprintf(w, "A/B, %d CPUs; pgbench 16-client commits: %.0f/s before, %.0f/s after.\n\n", runtime.NumCPU(), before, after)
	fmt.Fprintln(w, "| load | A ratios | B ratios | A p99 | B p99 | B/A rate | exchange CPU/order A / B | PostgreSQL CPU/order A / B |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, ab := range pairs {
		var cells [2]string
		var p99s [2]string
		var sums [2]float64
		var ex, pgc [2]time.Duration
		for k := range ab {
			var rs, ps []string
			for _, r := range ab[k] {
				rs = append(rs, fmt.Sprintf("%.2f", r.orders/commits))
				ps = append(ps, r.p99.Round(time.Millisecond).String())
				sums[k] += r.orders
				ex[k] += r.exchangeCPU / time.Duration(len(ab[k]))
				pgc[k] += r.postgresCPU / time.Duration(len(ab[k]))
			}
			cells[k], p99s[k] = strings.Join(rs, " "), strings.Join(ps, " ")
		}
		us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", micros(d)) }
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f | %s / %s | %s / %s |\n", ab[0][0].name, cells[0], cells[1], p99s[0], p99s[1],
			sums[1]/sums[0], us(ex[0]), us(ex[1]), us(pgc[0]), us(pgc[1]))
	}
}

// report prints the Markdown table for docs/performance.md. Ratios are to
// the higher of the two commit rates, the conservative reading: the load
// itself leaves PostgreSQL a checkpoint and vacuuming to do, which can
// depress the second measurement, and a lower rate would flatter the ratio.
func report(w io.Writer, pg *localpg.Server, before, after float64, results []result) {
	commits := max(before, after)
	version, _ := exec.Command(filepath.Join(pg.BinDir(), "postgres"), "--version").Output()
	fmt.Fprintf(w, "%s; %d CPUs; PostgreSQL durable single-row commits from 16 pgbench clients: %.0f/s before the load, %.0f/s after.\n\n",
		strings.TrimSpace(string(version)), runtime.NumCPU(), before, after)
	fmt.Fprintln(w, "| load | orders acknowledged/s | ratio to commits/s | p50 / p99 ack | target | CPU µs per order: exchange / PostgreSQL / load generator | exchange peak RSS | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		ratio := r.orders / commits
		target := fmt.Sprintf("ratio ≥ %.1f: %s", r.target, met(ratio >= r.target))
		if r.latency {
			target = fmt.Sprintf("p99 < %s: %s", targetP99, met(r.p99 < targetP99))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %s / %s | %s | %.0f / %.0f / %.0f | %.0f MiB | %s |\n", r.name, r.orders, ratio,
			r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), target,
			micros(r.exchangeCPU), micros(r.postgresCPU), micros(r.loadgenCPU), r.peakMiB, errorText(r.errs))
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

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

// exchangeServer is a running `exchange serve`.
type exchangeServer struct {
	url     string // public listener
	metrics string // the internal listener's /metrics
	pid     int
	stop    func()
}

// serve starts `exchange serve` on free ports and waits until it is
// ready: schema current, sequencer leading, market data in sync.
func serve(ctx context.Context, binary string, env []string) (exchangeServer, error) {
	var addrs [2]string
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return exchangeServer{}, err
		}
		addrs[i] = l.Addr().String()
		l.Close()
	}
	cmd := exchangeCmd(context.WithoutCancel(ctx), binary, append(env, "HTTP_ADDR="+addrs[0], "INTERNAL_ADDR="+addrs[1]), "serve")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return exchangeServer{}, err
	}
	var once sync.Once
	srv := exchangeServer{url: "http://" + addrs[0], metrics: "http://" + addrs[1] + "/metrics", pid: cmd.Process.Pid, stop: func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		})
	}}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get(srv.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return srv, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			srv.stop()
			return exchangeServer{}, fmt.Errorf("the exchange was not ready within 60 s:\n%s", logs.String())
		}
	}
}

// profileSelf profiles this process, the load generator, into file until
// the returned function is called.
func profileSelf(file string) func() {
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// profileCPU fetches a CPU profile of the exchange's next d less a second
// into file; the returned function waits for it.
func profileCPU(file string, d time.Duration) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := max(1, int((d - time.Second).Seconds()))
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:16061/debug/pprof/profile?seconds=%d", secs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer res.Body.Close()
		f, err := os.Create(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, res.Body)
	}()
	return func() { <-done }
}

// printStatements lists the exchange database's statements by total
// execution time.
func printStatements(pg *localpg.Server) {
	out, err := exec.Command(filepath.Join(pg.BinDir(), "psql"), "-X", "-A", "-F", " | ", pg.URL("postgres"), "-c",
		`SELECT round(total_exec_time) AS ms, calls, rows, round((total_exec_time / calls)::numeric, 3) AS ms_per_call,
			left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
		FROM pg_stat_statements JOIN pg_database d ON d.oid = dbid WHERE d.datname = 'exchange'
		ORDER BY total_exec_time DESC LIMIT 25`, "-c",
		// Many cheap statements cost PostgreSQL in protocol and planning
		// more than their execution time shows.
		`SELECT calls, rows, round(total_exec_time) AS ms, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
		FROM pg_stat_statements JOIN pg_database d ON d.oid = dbid WHERE d.datname = 'exchange'
		ORDER BY calls DESC LIMIT 12`, "-c",
		`SELECT datname, sessions FROM pg_stat_database WHERE datname = 'exchange'`, "-c",
		// Write-ahead log volume and full-page images (after checkpoints).
		`SELECT wal_records, wal_fpi, pg_size_pretty(wal_bytes) AS wal, checkpoints_timed, checkpoints_req
		FROM pg_stat_wal, pg_stat_bgwriter`).CombinedOutput()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pg_stat_statements:", err, string(out))
		return
	}
	fmt.Println(string(out))
}

// lineWatch passes writes through and calls f once, when a line starting
// with prefix is written.
type lineWatch struct {
	w      io.Writer
	prefix string
	f      func()
	done   bool
}

func (l *lineWatch) Write(p []byte) (int, error) {
	if !l.done && bytes.HasPrefix(p, []byte(l.prefix)) {
		l.done = true
		l.f()
	}
	return l.w.Write(p)
}

// cpuOf is the CPU time (user and system) a process has used; with
// children, that of its child processes too (PostgreSQL's backends are
// the postmaster's children), dead ones included as the kernel counts them.
func cpuOf(pid int, children bool) time.Duration {
	ticks := func(pid int) int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		var t int64
		fields := []int{11, 12} // utime, stime
		if children {
			fields = append(fields, 13, 14) // cutime, cstime: children reaped
		}
		for _, i := range fields {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			t += n
		}
		return t
	}
	total := ticks(pid)
	if children {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			child, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				total += ticks(child)
			}
		}
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// peakMiB is a process's peak resident memory (VmHWM in /proc), or 0.
func peakMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 64)
			return n / 1024
		}
	}
	return 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
