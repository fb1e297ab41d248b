// Command proofbench measures a proof-of-liabilities snapshot of many
// accounts: the leader's copy handed to the builder, the tree built and
// every leaf and node persisted in one transaction, with the time it
// takes and the peak memory of this process (which does nothing else).
// It starts its own durable PostgreSQL, creates the customers, checks a
// sample of proofs from the stored tree, and prints a Markdown table for
// docs/performance.md.
//
//	go run ./service/cmd/proofbench -accounts 1000000
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for migrate

	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/liabilities"
	"github.com/crypto-exchange/exchange/service/internal/localpg"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/proofs"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

func main() {
	accounts := flag.Int("accounts", 1_000_000, "customer accounts, each holding the three default assets")
	samples := flag.Int("samples", 200, "proofs to read back and verify")
	flag.Parse()
	if err := run(context.Background(), *accounts, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "proofbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, samples int) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pg, err := localpg.Start(ctx, localpg.Options{Settings: map[string]string{
		"shared_buffers": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "30min",
	}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE exchange"); err != nil {
		return err
	}
	url := pg.URL("exchange")
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	if _, err := migrate.Up(ctx, sqlDB, quiet); err != nil {
		return err
	}
	sqlDB.Close()
	db, err := database.Open(ctx, config.Database{URL: url, MaxOpenConns: 4, MaxIdleConns: 2, ConnMaxLifetime: time.Hour}, quiet)
	if err != nil {
		return err
	}
	if err := catalog.Seed(ctx, db, catalog.Defaults()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "creating %d customers\n", n)
	if err := db.Exec(`WITH u AS (INSERT INTO users (email, password_hash) SELECT 'c' || i || '@example.com', 'x' FROM generate_series(1, ?) i RETURNING id)
		INSERT INTO accounts (kind, user_id) SELECT 'user', id FROM u`, n).Error; err != nil {
		return err
	}
	var first int64
	if err := db.Raw("SELECT min(id) FROM accounts WHERE kind = 'user'").Scan(&first).Error; err != nil {
		return err
	}
	runtime.GC()
	before := vmHWM()

	// What the leader's copy holds: every account's three balances (in
	// the order of a map, which is no order), and the fee account's,
	// which the builder leaves out.
	start := time.Now()
	c := capture(first, n)
	made := time.Since(start)
	b := proofs.NewBuilder(url, quiet, nil, 0)
	start = time.Now()
	snap, ph, err := b.Build(ctx, c)
	if err != nil {
		return err
	}
	took := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := vmHWM()
	c = nil

	var tableBytes int64
	db.Raw(`SELECT sum(pg_total_relation_size(t)) FROM unnest(array['liability_leaves', 'liability_nodes']::regclass[]) t`).Scan(&tableBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	var read time.Duration
	for range samples {
		user := int64(0)
		db.Raw("SELECT user_id FROM accounts WHERE id = ?", first+rng.Int64N(int64(n))).Scan(&user)
		t0 := time.Now()
		p, err := liabilities.Proof(ctx, db, snap.ID, user)
		read += time.Since(t0)
		if err != nil {
			return err
		}
		if v, err := sumtree.Verify(p); err != nil || v.Root != snap.RootHash {
			return fmt.Errorf("user %d's proof: %v", user, err)
		}
	}
	fmt.Printf("| accounts | tree + persistence | of which rows / tree / tables | peak RSS (VmHWM) | RSS before | Go heap obtained | tables on disk | proof read (mean of %d, all verified) |\n", samples)
	fmt.Println("|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | **%.1f s** | %.1f / %.1f / %.1f s | **%d MiB** | %d MiB | %d MiB | %d MiB | %.1f ms |\n",
		snap.Accounts, took.Seconds(), ph.Rows.Seconds(), ph.Tree.Seconds(), ph.Save.Seconds(), peak>>20, before>>20, ms.Sys>>20, tableBytes>>20,
		float64(read.Microseconds())/float64(samples)/1000)
	fmt.Fprintf(os.Stderr, "the copy itself was made in %.2f s (in the leader it is made from its balances: see BenchmarkSnapshotCapture1M)\n", made.Seconds())
	return nil
}

// capture makes a copy as the sequencer would hand it over: three assets
// by symbol, each balance a whole number of the asset's smallest unit.
func capture(first int64, n int) *sequencer.Capture {
	rng := rand.New(rand.NewPCG(3, 4))
	c := &sequencer.Capture{
		SnapshotTaken: sequencer.SnapshotTaken{TakenAt: time.Now().UTC().Truncate(time.Microsecond), LastEntryID: 0},
		Assets:        []sequencer.CapturedAsset{{Symbol: "BTC", Precision: 8}, {Symbol: "ETH", Precision: 8}, {Symbol: "USDT", Precision: 6}},
		Balances:      make([]sequencer.CapturedBalance, 0, 3*n+3),
	}
	for _, i := range rng.Perm(n) {
		account := first + int64(i)
		c.Balances = append(c.Balances,
			sequencer.CapturedBalance{Account: account, Asset: 0, Total: money.Amount(1 + rng.Int64N(100*int64(money.One)))},
			sequencer.CapturedBalance{Account: account, Asset: 1, Total: money.Amount(1 + rng.Int64N(1000*int64(money.One)))},
			sequencer.CapturedBalance{Account: account, Asset: 2, Total: money.Amount(100 * (1 + rng.Int64N(1e12)))})
	}
	for a := range uint16(3) {
		c.Balances = append(c.Balances, sequencer.CapturedBalance{Account: 2, Asset: a, Total: 100 * money.One})
	}
	c.Balances = append(c.Balances[:0:0], c.Balances...) // as exactly sized as the leader's copy
	return c
}

// vmHWM is this process's peak resident set size, in bytes.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
