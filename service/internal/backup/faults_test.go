package backup

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// Each way a backup can fail gives a clear error and leaves nothing in the
// bucket that looks like a backup.
func TestBackupFaults(t *testing.T) {
	// The password is accepted (the test cluster trusts 127.0.0.1) and must
	// never show up in an error or on pg_dump's command line.
	const password = "hunter2-not-for-logs"
	dbURL := withPassword(t, pgtest.URL(t), password)
	seed(t, dbURL, openDB(t, dbURL))
	// Far more than the upload can buffer (first part + 3 pool parts of
	// 5 MiB), so pg_dump is still running when a test acts mid-upload.
	addBulk(t, dbURL, 48)
	ctx := context.Background()

	noSecret := func(t *testing.T, err error) {
		t.Helper()
		if err != nil && strings.Contains(err.Error(), password) {
			t.Fatalf("error leaks the database password: %v", err)
		}
	}

	t.Run("S3 down before the upload", func(t *testing.T) {
		r := newRig(t)
		r.s3.Stop()
		_, err := Create(ctx, r.env, dbURL)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
		requireContains(t, err, "S3 unreachable at "+r.cfg.Endpoint, "connection refused")
		if err := r.s3.Restart(); err != nil {
			t.Fatal(err)
		}
		r.requireNothingStored()
	})

	t.Run("S3 goes down during the upload", func(t *testing.T) {
		r := newRig(t)
		var once sync.Once
		r.s3.OnRequest(func(req *http.Request) {
			if req.URL.Query().Has("partNumber") {
				once.Do(func() { r.s3.Stop() })
			}
		})
		_, err := Create(ctx, r.env, dbURL)
		requireContains(t, err, "upload s3://"+bucket+"/", "connection refused")
		noSecret(t, err)
		r.s3.OnRequest(nil)
		if err := r.s3.Restart(); err != nil {
			t.Fatal(err)
		}
		// The abort could not reach the store either: the incomplete
		// upload stays invisible until a lifecycle rule reaps it.
		r.requireNothingStored()
	})

	t.Run("wrong secret key", func(t *testing.T) {
		r := newRig(t)
		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
		r.reconfigure()
		_, err := Create(ctx, r.env, dbURL)
		if !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("got %v, want ErrAccessDenied", err)
		}
		requireContains(t, err, "check the credentials")
		r.requireNothingStored()
	})

	t.Run("unknown access key", func(t *testing.T) {
		r := newRig(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIANOBODY")
		r.reconfigure()
		_, err := Create(ctx, r.env, dbURL)
		if !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("got %v, want ErrAccessDenied", err)
		}
		r.requireNothingStored()
	})

	t.Run("missing bucket", func(t *testing.T) {
		r := newRig(t)
		r.cfg.Bucket = "no-such-bucket"
		r.reconfigure()
		_, err := Create(ctx, r.env, dbURL)
		if !errors.Is(err, ErrNoBucket) {
			t.Fatalf("got %v, want ErrNoBucket", err)
		}
		requireContains(t, err, `"no-such-bucket"`)
		r.requireNothingStored()
	})

	t.Run("pg_dump older than the server", func(t *testing.T) {
		r := newRig(t)
		r.cfg.PGBinDir = wrapTools(t, `[ "$1" = --version ] && echo "pg_dump (PostgreSQL) 9.6.24" && exit 0
exec "$REAL_PG_DUMP" "$@"`)
		r.reconfigure()
		_, err := Create(ctx, r.env, dbURL)
		requireContains(t, err, "pg_dump 9.6.24 is older than the server (PostgreSQL ", "install pg_dump")
		r.requireNothingStored()
	})

	t.Run("database unreachable", func(t *testing.T) {
		r := newRig(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = "127.0.0.1:1" // nobody listens there
		_, err = Create(ctx, r.env, u.String())
		requireContains(t, err, "connect to database")
		noSecret(t, err)
		r.requireNothingStored()
	})

	t.Run("pg_dump fails", func(t *testing.T) {
		r := newRig(t)
		r.cfg.PGBinDir = wrapTools(t, `exec "$REAL_PG_DUMP" "$@" --table=no_such_table`)
		r.reconfigure()
		_, err := Create(ctx, r.env, dbURL)
		requireContains(t, err, "pg_dump failed (exit status 1)", "no matching tables were found")
		noSecret(t, err)
		r.requireNothingStored()
	})

	t.Run("pg_dump killed mid-stream", func(t *testing.T) {
		r := newRig(t)
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pid")
		args := filepath.Join(dir, "args")
		r.cfg.PGBinDir = wrapTools(t, `echo $$ > `+pidFile+`
echo "$@" > `+args+`; env >> `+args+`
exec "$REAL_PG_DUMP" "$@"`)
		r.reconfigure()
		// Hold every part upload until pg_dump has been killed, so it dies
		// with most of its output unread.
		partSeen, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		r.s3.OnRequest(func(req *http.Request) {
			if req.URL.Query().Has("partNumber") {
				once.Do(func() { close(partSeen) })
				<-release
			}
		})
		done := make(chan error, 1)
		go func() {
			_, err := Create(ctx, r.env, dbURL)
			done <- err
		}()
		<-partSeen
		raw, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill pg_dump %d: %v", pid, err)
		}
		close(release)
		err = <-done
		requireContains(t, err, "pg_dump failed (signal: killed)", "was aborted")
		noSecret(t, err)
		r.requireNothingStored()
		if n := r.pendingUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left unaborted", n)
		}

		// pg_dump got the password in its environment, not its arguments,
		// and none of the AWS credentials.
		seen, err := os.ReadFile(args)
		if err != nil {
			t.Fatal(err)
		}
		argLine, envLines, _ := strings.Cut(string(seen), "\n")
		if strings.Contains(argLine, password) || !strings.Contains(envLines, "PGPASSWORD="+password) {
			t.Fatalf("pg_dump's arguments hold the password, or its environment lacks it:\n%s", seen)
		}
		if strings.Contains(envLines, "AWS_") {
			t.Fatalf("pg_dump inherited AWS settings:\n%s", envLines)
		}
	})

	t.Run("interrupted (SIGTERM) during the upload", func(t *testing.T) {
		r := newRig(t)
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		var once sync.Once
		r.s3.OnRequest(func(req *http.Request) {
			if req.URL.Query().Has("partNumber") {
				once.Do(cancel)
			}
		})
		_, err := Create(runCtx, r.env, dbURL)
		requireContains(t, err, "backup interrupted", "abandoned", "context canceled")
		r.requireNothingStored()
		if n := r.pendingUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left unaborted after cancellation", n)
		}
	})

	t.Run("SSE-KMS is requested with its key", func(t *testing.T) {
		r := newRig(t)
		r.cfg.SSE, r.cfg.KMSKeyID = "aws:kms", "alias/exchange-backups"
		r.reconfigure()
		var sse, key string
		r.s3.OnRequest(func(req *http.Request) {
			if req.URL.Query().Has("uploads") || (req.Method == http.MethodPut && !req.URL.Query().Has("partNumber")) {
				sse = req.Header.Get("X-Amz-Server-Side-Encryption")
				key = req.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")
			}
		})
		// The test server has no KMS and refuses, as S3 would without
		// access to the key; what matters is what was asked for.
		_, err := Create(ctx, r.env, dbURL)
		requireContains(t, err, "S3 refused it: NotImplemented: Server Side Encryption with KMS")
		if sse != "aws:kms" || key != "alias/exchange-backups" {
			t.Fatalf("requested SSE %q with key %q", sse, key)
		}
		r.requireNothingStored()
	})
}

// A store that cannot encrypt (MinIO without a KMS) refuses any SSE
// header; BACKUP_SSE=none sends none, and says so in the log.
func TestBackupWithoutSSE(t *testing.T) {
	r := newRig(t)
	r.cfg.SSE = "none"
	r.reconfigure()
	dbURL := pgtest.URL(t)
	var mu sync.Mutex
	var sent []string
	r.s3.OnRequest(func(req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if v := req.Header.Get("X-Amz-Server-Side-Encryption"); v != "" {
			sent = append(sent, v)
		}
	})
	if _, err := Create(context.Background(), r.env, dbURL); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 0 || len(r.keys()) != 2 {
		t.Fatalf("SSE headers sent: %v; objects %v", sent, r.keys())
	}
	if !strings.Contains(r.log.String(), "BACKUP_SSE=none") {
		t.Fatal("no warning that the store is not asked to encrypt")
	}
}

func TestRestoreFaults(t *testing.T) {
	r := newRig(t)
	dbURL := pgtest.URL(t)
	seed(t, dbURL, openDB(t, dbURL))
	m, err := Create(context.Background(), r.env, dbURL)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("S3 down", func(t *testing.T) {
		r.s3.Stop()
		defer r.s3.Restart()
		target := pgtest.EmptyURL(t)
		err := Restore(context.Background(), r.env, m, target, RestoreOptions{})
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
		if n := objectCount(t, target); n != 0 {
			t.Fatalf("%d objects restored", n)
		}
	})

	t.Run("pg_restore older than the dump", func(t *testing.T) {
		old := m
		old.PgDumpMajor, old.PgDumpVersion = 99, "99.0"
		err := Restore(context.Background(), r.env, old, pgtest.EmptyURL(t), RestoreOptions{})
		requireContains(t, err, "cannot read a dump made by pg_dump 99.0", "install pg_restore 99 or newer")
	})
}
