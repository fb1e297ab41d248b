package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/backup"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
)

// The backup commands log one final JSON line each with "outcome" and, on
// success, a *_last_success_timestamp_seconds field: what a log-based alert
// or dashboard keys on (docs/backup.md).

func runBackup(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	pruneArg := fs.String("prune-older-than", "", "after a successful backup, delete backups older than this, e.g. 30d (for stores without lifecycle rules)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var retention time.Duration
	if *pruneArg != "" {
		var err error
		if retention, err = parseRetention(*pruneArg); err != nil {
			return usageError{err}
		}
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	dbURL, err := backupDatabaseURL(env)
	if err != nil {
		return err
	}
	be, cfg, err := backupEnv(ctx, env, log)
	if err != nil {
		return err
	}
	// The upload's part buffers are allocated once and stay live, and by
	// default the collector lets garbage grow to as much again before it
	// runs. A soft limit a little above the buffers keeps the peak RSS near
	// them whatever the database size (an operator's GOMEMLIMIT wins).
	if env.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(cfg.Concurrency+2)*cfg.PartSize + 24<<20)
	}
	started := time.Now()
	m, err := backup.Create(ctx, be, dbURL)
	if err != nil {
		log.Error("backup failed", "outcome", "failure", "error", err.Error(), "duration_seconds", time.Since(started).Seconds())
		return err
	}
	took := time.Since(started)
	log.Info("backup complete", "outcome", "success", "key", be.Store.Location(m.Key), "bytes", m.SizeBytes,
		"sha256", m.SHA256, "duration_seconds", took.Seconds(), "throughput_mib_per_second", mibPerSecond(m.SizeBytes, took),
		"backup_last_success_timestamp_seconds", m.FinishedAt.Unix())
	fmt.Fprintln(env.stdout, be.Store.Location(m.Key))
	if retention > 0 {
		deleted, err := backup.Prune(ctx, be, m.Database, retention, time.Now())
		for _, k := range deleted {
			log.Info("pruned old backup object", "key", be.Store.Location(k))
		}
		if err != nil {
			return fmt.Errorf("the backup succeeded, but pruning old backups failed: %w", err)
		}
	}
	return nil
}

func runRestore(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	latest := fs.Bool("latest", false, "restore the newest complete backup of DATABASE_URL's database")
	key := fs.String("key", "", "restore the backup whose dump has this key")
	target := fs.String("target-url", "", "the database to restore into (default DATABASE_URL)")
	force := fs.Bool("force", false, "restore into a database that is not empty, replacing the objects the backup contains")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *latest == (*key != "") {
		return usageError{errors.New("give exactly one of --latest or --key KEY")}
	}
	targetURL := *target
	if targetURL != "" {
		if err := config.RequirePostgresURL("--target-url", targetURL); err != nil {
			return usageError{err}
		}
	}
	// DATABASE_URL names whose backups --latest means, and is the default
	// target; a restore of a given key into a given URL needs neither.
	var dbURL string
	if *latest || targetURL == "" {
		var err error
		if dbURL, err = backupDatabaseURL(env); err != nil {
			return err
		}
	}
	if targetURL == "" {
		targetURL = dbURL
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	be, _, err := backupEnv(ctx, env, log)
	if err != nil {
		return err
	}
	started := time.Now()
	m, err := findBackup(ctx, be, *key, dbURL)
	if err == nil {
		err = backup.Restore(ctx, be, m, targetURL, backup.RestoreOptions{Force: *force})
	}
	if err != nil {
		log.Error("restore failed", "outcome", "failure", "error", err.Error(), "duration_seconds", time.Since(started).Seconds())
		return err
	}
	took := time.Since(started)
	log.Info("restore complete", "outcome", "success", "key", be.Store.Location(m.Key), "bytes", m.SizeBytes,
		"backup_taken_at", m.StartedAt, "duration_seconds", took.Seconds(), "throughput_mib_per_second", mibPerSecond(m.SizeBytes, took))
	return nil
}

func runVerifyBackup(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("verify-backup", flag.ContinueOnError)
	key := fs.String("key", "", "verify this backup instead of the newest one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	be, cfg, err := backupEnv(ctx, env, log)
	if err != nil {
		return err
	}
	// The scratch database goes on BACKUP_VERIFY_URL's server if set, so
	// the restore need not load the production primary.
	serverURL := cfg.VerifyURL
	var dbURL string
	if *key == "" || serverURL == "" {
		if dbURL, err = backupDatabaseURL(env); err != nil {
			return err
		}
	}
	if serverURL == "" {
		serverURL = dbURL
	}
	started := time.Now()
	m, err := findBackup(ctx, be, *key, dbURL)
	var report backup.Report
	if err == nil {
		report, err = backup.Verify(ctx, be, m, serverURL)
	}
	if err != nil {
		log.Error("backup verification failed", "outcome", "failure", "error", err.Error(), "duration_seconds", time.Since(started).Seconds())
		return err
	}
	fmt.Fprintf(env.stdout, "backup %s, taken %s, %d bytes\n", be.Store.Location(m.Key), m.StartedAt.Format(time.RFC3339), m.SizeBytes)
	writeVerifyReport(env, report, len(m.RowCounts))
	if !report.OK() {
		log.Error("backup verification failed", "outcome", "failure", "key", be.Store.Location(m.Key),
			"ledger_violations", len(report.Violations), "row_count_differences", len(report.CountDiffs),
			"duration_seconds", time.Since(started).Seconds())
		return errFailedCheck
	}
	log.Info("backup verified", "outcome", "success", "key", be.Store.Location(m.Key), "bytes", m.SizeBytes,
		"duration_seconds", time.Since(started).Seconds(), "backup_verify_last_success_timestamp_seconds", time.Now().Unix())
	return nil
}

func writeVerifyReport(env *environment, r backup.Report, tables int) {
	ledger.WriteReport(env.stdout, r.Violations)
	if len(r.CountDiffs) == 0 {
		fmt.Fprintf(env.stdout, "ok    row counts equal those recorded at backup time (%d tables)\n", tables)
	} else {
		fmt.Fprintln(env.stdout, "FAIL  row counts equal those recorded at backup time")
		for _, d := range r.CountDiffs {
			fmt.Fprintf(env.stdout, "      %s\n", d)
		}
	}
	if r.OK() {
		fmt.Fprintln(env.stdout, "backup verified")
	} else {
		fmt.Fprintln(env.stdout, "backup verification FAILED")
	}
}

// backupDatabaseURL is DATABASE_URL, which must be the postgres:// form.
func backupDatabaseURL(env *environment) (string, error) {
	db, err := config.LoadDatabase(env.getenv)
	if err != nil {
		return "", usageError{err}
	}
	if err := config.RequirePostgresURL("DATABASE_URL", db.URL); err != nil {
		return "", usageError{err}
	}
	return db.URL, nil
}

func backupEnv(ctx context.Context, env *environment, log *slog.Logger) (backup.Env, config.Backup, error) {
	cfg, err := config.LoadBackup(env.getenv)
	if err != nil {
		return backup.Env{}, cfg, usageError{err}
	}
	store, err := backup.NewStore(ctx, cfg)
	if err != nil {
		return backup.Env{}, cfg, err
	}
	// Libraries that print with the standard log package (the transfer
	// manager does) go through the JSON handler too.
	slog.SetDefault(log)
	// The tools inherit the real process environment (PG* settings such as
	// PGSSLMODE), filtered by backup.Tools.
	return backup.Env{Store: store, Tools: backup.Tools{BinDir: cfg.PGBinDir, Env: os.Environ()}, Log: log}, cfg, nil
}

// findBackup reads the manifest of key, or of the newest backup of the
// database at dbURL when key is empty.
func findBackup(ctx context.Context, be backup.Env, key, dbURL string) (backup.Manifest, error) {
	if key != "" {
		key = strings.TrimPrefix(key, be.Store.Location(""))
		return be.Store.Manifest(ctx, key)
	}
	name, err := backup.DatabaseName(dbURL)
	if err != nil {
		return backup.Manifest{}, usageError{err}
	}
	return be.Store.Latest(ctx, name)
}

// parseRetention reads "30d" or a Go duration; less than a day is refused
// as the likely typo it is.
func parseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("--prune-older-than=%q: allowed: whole days such as 30d, or a Go duration such as 720h", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--prune-older-than=%q: allowed: whole days such as 30d, or a Go duration such as 720h", s)
		}
	}
	if d < 24*time.Hour {
		return 0, fmt.Errorf("--prune-older-than=%q: allowed: at least 1d", s)
	}
	return d, nil
}

func mibPerSecond(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / (1 << 20) / d.Seconds()
}
