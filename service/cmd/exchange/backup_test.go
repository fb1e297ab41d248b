package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/s3test"
)

// backupEnvVars is the configuration a backup CronJob gets, pointed at a
// real S3-compatible server on 127.0.0.1.
func backupEnvVars(t *testing.T, srv *s3test.Server, dbURL string) []string {
	t.Helper()
	env := []string{
		"DATABASE_URL=" + dbURL,
		"BACKUP_S3_BUCKET=exchange-backups",
		"BACKUP_S3_PREFIX=prod",
		"BACKUP_S3_ENDPOINT=" + srv.URL(),
		"BACKUP_S3_FORCE_PATH_STYLE=true",
		"AWS_REGION=" + s3test.Region,
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none"),
	}
	if d := pgtest.BinDir(); d != "" {
		env = append(env, "BACKUP_PG_BIN_DIR="+d)
	}
	return env
}

// lastLog is the last JSON log line on stderr.
func lastLog(t *testing.T, stderr string) map[string]any {
	t.Helper()
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			last = m
		}
	}
	if last == nil {
		t.Fatalf("no JSON log line in %q", stderr)
	}
	return last
}

func checksumsOf(t *testing.T, dbURL string) map[string]string {
	t.Helper()
	db, err := database.Open(context.Background(), config.Database{URL: dbURL, MaxOpenConns: 2, MaxIdleConns: 2, ConnMaxLifetime: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer database.SQL(db).Close()
	return pgtest.Checksums(t, db)
}

// The CronJobs' and the operator's view: backup, restore and verify-backup
// as processes, with their exit codes and log lines.
func TestBackupRestoreVerifyCommands(t *testing.T) {
	srv, err := s3test.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.CreateBucket("exchange-backups"); err != nil {
		t.Fatal(err)
	}
	src := pgtest.URL(t)
	env := backupEnvVars(t, srv, src)
	if r := runBinary(t, env, "", "migrate", "--seed"); r.code != 0 {
		t.Fatalf("seed: %s", r.stderr)
	}
	if r := runBinary(t, append(env, "ADMIN_PASSWORD=a strong admin password"), "", "create-admin", "--email", "ops@example.com"); r.code != 0 {
		t.Fatalf("create-admin: %s", r.stderr)
	}

	r := runBinary(t, env, "", "backup")
	if r.code != 0 {
		t.Fatalf("backup: exit %d\n%s", r.code, r.stderr)
	}
	key := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(key, "s3://exchange-backups/prod/") || !strings.HasSuffix(key, ".dump") {
		t.Fatalf("backup printed %q, want the new backup's location", r.stdout)
	}
	final := lastLog(t, r.stderr)
	if final["msg"] != "backup complete" || final["outcome"] != "success" || final["key"] != key ||
		final["bytes"].(float64) <= 0 || final["backup_last_success_timestamp_seconds"].(float64) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("final log line %v", final)
	}
	if strings.Contains(r.stderr, srv.SecretKey) {
		t.Fatal("the log shows the S3 secret")
	}

	target := pgtest.EmptyURL(t)
	if r := runBinary(t, env, "", "restore", "--latest", "--target-url", target); r.code != 0 {
		t.Fatalf("restore: exit %d\n%s", r.code, r.stderr)
	} else if m := lastLog(t, r.stderr); m["msg"] != "restore complete" || m["key"] != key {
		t.Fatalf("restore's final log line %v", m)
	}
	if want, got := checksumsOf(t, src), checksumsOf(t, target); !maps.Equal(want, got) {
		t.Fatalf("restored tables differ:\n%v\n%v", want, got)
	}
	if r := runBinary(t, append(env[1:], "DATABASE_URL="+target), "", "check-ledger"); r.code != 0 {
		t.Fatalf("check-ledger on the restored database: %d %s", r.code, r.stdout)
	}

	r = runBinary(t, env, "", "restore", "--latest", "--target-url", target)
	if r.code != 1 || !strings.Contains(r.stderr, "target database is not empty") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("restore over a non-empty database: exit %d\n%s", r.code, r.stderr)
	}
	if r := runBinary(t, env, "", "restore", "--key", key, "--target-url", target, "--force"); r.code != 0 {
		t.Fatalf("forced restore by key: exit %d\n%s", r.code, r.stderr)
	}

	r = runBinary(t, env, "", "verify-backup")
	if r.code != 0 || !strings.Contains(r.stdout, "backup verified") || !strings.Contains(r.stdout, "ok    row counts equal") {
		t.Fatalf("verify-backup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if m := lastLog(t, r.stderr); m["outcome"] != "success" || m["backup_verify_last_success_timestamp_seconds"] == nil {
		t.Fatalf("verify-backup's final log line %v", m)
	}

	// Books that do not balance, backed up faithfully: the weekly check
	// must fail the Job.
	psql(t, "DATABASE_URL="+src, "INSERT INTO balances (account_id, asset, available) VALUES (2, 'BTC', 1)")
	time.Sleep(time.Second) // keys have one-second resolution
	if r := runBinary(t, env, "", "backup"); r.code != 0 {
		t.Fatalf("second backup: %s", r.stderr)
	}
	r = runBinary(t, env, "", "verify-backup")
	if r.code != 1 || !strings.Contains(r.stdout, "FAIL  balances equal the sum of their journal legs") || !strings.Contains(r.stdout, "backup verification FAILED") {
		t.Fatalf("verify-backup of bad books: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if m := lastLog(t, r.stderr); m["outcome"] != "failure" {
		t.Fatalf("verify-backup's final log line %v", m)
	}

	// S3 gone: a clear message and exit 1.
	srv.Stop()
	r = runBinary(t, env, "", "backup")
	if r.code != 1 || !strings.Contains(r.stderr, "exchange backup: check bucket: S3 unreachable at "+srv.URL()) {
		t.Fatalf("backup with S3 down: exit %d\n%s", r.code, r.stderr)
	}
	if m := lastLog(t, r.stderr); m["outcome"] != "failure" {
		t.Fatalf("failed backup's log line %v", m)
	}
}

func TestBackupConfigErrors(t *testing.T) {
	base := []string{"DATABASE_URL=postgres://u@127.0.0.1:1/exchange", "BACKUP_S3_BUCKET=b-ok", "AWS_REGION=eu-west-1"}
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"missing bucket", base[:1], []string{"backup"}, "exchange backup: BACKUP_S3_BUCKET is not set"},
		{"missing region", base[:2], []string{"backup"}, "exchange backup: AWS_REGION is not set"},
		{"bad sse", append(base, "BACKUP_SSE=des"), []string{"backup"}, `BACKUP_SSE="des" is invalid; allowed: AES256 (SSE-S3), aws:kms`},
		{"kms key without kms", append(base, "BACKUP_KMS_KEY_ID=k"), []string{"backup"}, `BACKUP_KMS_KEY_ID="k" is invalid; allowed only with BACKUP_SSE=aws:kms`},
		{"key=value database url", []string{"DATABASE_URL=host=db password=hunter2 dbname=x", "BACKUP_S3_BUCKET=b-ok", "AWS_REGION=eu-west-1"}, []string{"backup"}, `DATABASE_URL="<redacted>" is invalid; allowed: a postgres:// URL naming a database`},
		{"short retention", base, []string{"backup", "--prune-older-than", "1h"}, `--prune-older-than="1h": allowed: at least 1d`},
		{"restore needs one source", base, []string{"restore"}, "give exactly one of --latest or --key KEY"},
		{"restore with both", base, []string{"restore", "--latest", "--key", "k.dump"}, "give exactly one of --latest or --key KEY"},
		{"restore target not a URL", base, []string{"restore", "--latest", "--target-url", "dbname=x"}, `--target-url="<redacted>" is invalid`},
		{"bad part size", append(base, "BACKUP_PART_SIZE_MB=1"), []string{"verify-backup"}, `BACKUP_PART_SIZE_MB="1" is invalid; allowed: an integer from 5 to 512`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runBinary(t, c.env, "", c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, c.want)
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || strings.Contains(r.stderr, "hunter2") {
				t.Fatalf("want one line without secrets, got %q", r.stderr)
			}
		})
	}
}
