// Command backupbench measures `exchange backup`, `restore` and
// `verify-backup` on a generated database of a chosen size: throughput and
// the peak memory of the exchange process. It starts its own PostgreSQL
// (durable settings, as in production) and the S3-compatible test server,
// builds the exchange binary, runs it as the CronJob would, and prints a
// Markdown table for docs/performance.md.
//
//	go run ./service/cmd/backupbench -size-gb 1
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for migrate

	"github.com/crypto-exchange/exchange/service/internal/localpg"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
	"github.com/crypto-exchange/exchange/service/internal/s3test"
)

func main() {
	sizeGB := flag.Float64("size-gb", 1, "generate at least this many GiB of database (pg_database_size)")
	users := flag.Int("users", 100_000, "users to spread the ledger over")
	verify := flag.Bool("verify", true, "also time verify-backup")
	flag.Parse()
	if err := run(context.Background(), int64(*sizeGB*(1<<30)), *users, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "backupbench:", err)
		os.Exit(1)
	}
}

type measurement struct {
	name     string
	took     time.Duration
	hwm      int64          // peak RSS (VmHWM) of the exchange process
	childHWM int64          // largest peak RSS of its children (pg_dump, pg_restore)
	final    map[string]any // its last JSON log line
}

func run(ctx context.Context, target int64, users int, verify bool) error {
	work, err := os.MkdirTemp("", "backupbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	binary := filepath.Join(work, "exchange")
	fmt.Fprintln(os.Stderr, "building exchange")
	if out, err := exec.Command("go", "build", "-o", binary, "github.com/crypto-exchange/exchange/service/cmd/exchange").CombinedOutput(); err != nil {
		return fmt.Errorf("build exchange: %v\n%s", err, out)
	}

	pg, err := localpg.Start(ctx, localpg.Options{Settings: map[string]string{
		"shared_buffers": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "30min",
	}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	src, restored := pg.URL("exchange"), pg.URL("restored")
	if err := pg.Exec(ctx, "postgres", "CREATE DATABASE exchange", "CREATE DATABASE restored"); err != nil {
		return err
	}
	genStart := time.Now()
	dbSize, err := generate(ctx, src, target, users)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	fmt.Fprintf(os.Stderr, "generated %.2f GiB in %s\n", float64(dbSize)/(1<<30), time.Since(genStart).Round(time.Second))

	s3, err := s3test.Start()
	if err != nil {
		return err
	}
	defer s3.Stop()
	if err := s3.CreateBucket("bench"); err != nil {
		return err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + src, "BACKUP_S3_BUCKET=bench",
		"BACKUP_S3_ENDPOINT=" + s3.URL(), "BACKUP_S3_FORCE_PATH_STYLE=true", "AWS_REGION=" + s3test.Region,
		"AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey, "AWS_EC2_METADATA_DISABLED=true",
		"BACKUP_PG_BIN_DIR=" + pg.BinDir(),
	}
	backup, err := measure(binary, env, "backup")
	if err != nil {
		return err
	}
	dumpSize := int64(backup.final["bytes"].(float64))
	restore, err := measure(binary, env, "restore", "--latest", "--target-url", restored)
	if err != nil {
		return err
	}
	results := []measurement{backup, restore}
	if verify {
		v, err := measure(binary, env, "verify-backup")
		if err != nil {
			return err
		}
		results = append(results, v)
	}

	cpu, _ := os.ReadFile("/proc/cpuinfo")
	model := "unknown CPU"
	for line := range strings.Lines(string(cpu)) {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			model = strings.TrimSpace(strings.TrimLeft(name, "\t :"))
			break
		}
	}
	pgVersion, _ := exec.Command(filepath.Join(pg.BinDir(), "pg_dump"), "--version").Output()
	fmt.Printf("Database %.2f GiB (pg_database_size), custom-format dump %.0f MiB; %s; %d CPUs; %s; part size 8 MiB, concurrency 4 (defaults).\n\n",
		float64(dbSize)/(1<<30), float64(dumpSize)/(1<<20), strings.TrimSpace(string(pgVersion)), runtime.NumCPU(), model)
	fmt.Println("| command | wall time | database MiB/s | dump MiB/s | peak RSS of exchange | peak RSS of pg_dump / pg_restore |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, m := range results {
		fmt.Printf("| `%s` | %s | %.1f | %.1f | %.0f MiB | %.0f MiB |\n", m.name, m.took.Round(100*time.Millisecond),
			float64(dbSize)/(1<<20)/m.took.Seconds(), float64(dumpSize)/(1<<20)/m.took.Seconds(),
			float64(m.hwm)/(1<<20), float64(m.childHWM)/(1<<20))
	}
	return nil
}

// measure runs the exchange binary, polling the VmHWM of it and of its
// children until it exits. (The rusage of a waited child is no use here:
// its maxrss includes this process's memory, shared until exec.)
func measure(binary string, env []string, args ...string) (measurement, error) {
	m := measurement{name: "exchange " + args[0]}
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	fmt.Fprintf(os.Stderr, "running exchange %s\n", strings.Join(args, " "))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pid := cmd.Process.Pid
	for {
		select {
		case err := <-done:
			m.took = time.Since(start)
			if err != nil {
				return m, fmt.Errorf("exchange %s: %v\n%s", args[0], err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m.final); err != nil {
				return m, fmt.Errorf("exchange %s: last log line: %w", args[0], err)
			}
			return m, nil
		case <-tick.C:
			m.hwm = max(m.hwm, vmHWM(pid, "exchange"))
			// Any of the Go runtime's threads may have started a child.
			lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
			for _, list := range lists {
				children, _ := os.ReadFile(list)
				for _, c := range strings.Fields(string(children)) {
					child, _ := strconv.Atoi(c)
					m.childHWM = max(m.childHWM, vmHWM(child, "pg_dump"), vmHWM(child, "pg_restore"))
				}
			}
		}
	}
}

// vmHWM is the peak RSS of process pid if it runs program name; before its
// exec a child still shares its parent's memory and would report that.
func vmHWM(pid int, name string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), ":")
		value = strings.TrimSpace(value)
		switch key {
		case "Name":
			if value != name {
				return 0
			}
		case "VmHWM":
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(value, "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// generate fills the database with a consistent ledger (every invariant of
// ledger.Check holds, so verify-backup passes): users and accounts, then
// rounds of deposits, each a journal entry with two legs and a deposit row,
// until the database reaches target bytes; balances last, from the legs.
func generate(ctx context.Context, url string, target int64, users int) (int64, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := migrate.Up(ctx, db, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	setup := []string{
		`INSERT INTO assets (symbol, name, precision, withdrawal_daily_limit) VALUES
			('BTC', 'Bitcoin', 8, 100), ('ETH', 'Ether', 8, 1000), ('USDT', 'Tether', 6, 1000000)`,
		fmt.Sprintf(`INSERT INTO users (email, password_hash)
			SELECT 'user' || g || '@example.com', '$argon2id$v=19$m=65536,t=1,p=4$' || md5(g::text) || '$' || md5((g * 7)::text)
			FROM generate_series(1, %d) g`, users),
		`INSERT INTO accounts (kind, user_id) SELECT 'user', id FROM users ORDER BY id`,
	}
	for _, s := range setup {
		if _, err := conn.Exec(ctx, s); err != nil {
			return 0, fmt.Errorf("%.40s: %w", s, err)
		}
	}
	const batch = 500_000
	for round := 0; ; round++ {
		var size int64
		if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
			return 0, err
		}
		fmt.Fprintf(os.Stderr, "  %.2f GiB\n", float64(size)/(1<<30))
		if size >= target {
			break
		}
		// One implicit transaction per round. Legs and deposits are derived
		// from the entries not yet referenced by a leg.
		_, err := conn.Exec(ctx, fmt.Sprintf(`
			INSERT INTO journal_entries (kind, memo)
			SELECT 'deposit', 'deposit ' || md5(random()::text) FROM generate_series(1, %[1]d);
			CREATE TEMP TABLE new_entries ON COMMIT DROP AS
			SELECT id, 1000 + id %% %[2]d AS account, (ARRAY['BTC', 'ETH', 'USDT'])[1 + id %% 3] AS asset,
			       round((1 + id %% 100000) * 0.00001234, 6) AS amount
			FROM journal_entries WHERE id > (SELECT coalesce(max(entry_id), 0) FROM journal_legs);
			INSERT INTO journal_legs (entry_id, account_id, asset, bucket, amount)
			SELECT id, 1, asset, 'available', -amount FROM new_entries
			UNION ALL
			SELECT id, account, asset, 'available', amount FROM new_entries;
			INSERT INTO deposits (user_id, asset, amount, status, entry_id)
			SELECT a.user_id, n.asset, n.amount, 'credited', n.id FROM new_entries n JOIN accounts a ON a.id = n.account;`,
			batch, users))
		if err != nil {
			return 0, fmt.Errorf("round %d: %w", round, err)
		}
	}
	_, err = conn.Exec(ctx, `INSERT INTO balances (account_id, asset, available)
		SELECT account_id, asset, sum(amount) FROM journal_legs GROUP BY account_id, asset; ANALYZE`)
	if err != nil {
		return 0, fmt.Errorf("balances: %w", err)
	}
	var size int64
	err = conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size)
	return size, err
}
