// Package backup takes, restores and verifies backups of the exchange's
// database. A backup is pg_dump's custom format streamed straight into an S3
// multipart upload (no temporary file; memory bounded by the parts in
// flight) plus a manifest written once the upload is complete: its SHA-256,
// size, tool and server versions, and the row count of every table taken in
// the very snapshot pg_dump dumps. Restore checks the checksum while it
// streams into pg_restore, inside one transaction that is only allowed to
// commit once the checksum matched.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/config"
)

// Env is what every operation needs.
type Env struct {
	Store *Store
	Tools Tools
	Log   *slog.Logger
}

// progressEvery is how often a long backup or restore logs how far it got.
const progressEvery = 30 * time.Second

// Create backs up the database at rawURL and returns the new backup's
// manifest. Error messages never contain the database password.
func Create(ctx context.Context, env Env, rawURL string) (Manifest, error) {
	db, err := parseDBURL(rawURL)
	if err != nil {
		return Manifest{}, err
	}
	m, err := create(ctx, env, rawURL, db)
	return m, redact(err, db.password)
}

func create(ctx context.Context, env Env, rawURL string, db dbURL) (Manifest, error) {
	started := time.Now().UTC()
	// Fail on the store before touching the database: a missing bucket or
	// a wrong key should not cost a dump.
	if err := env.Store.Check(ctx); err != nil {
		return Manifest{}, err
	}
	dumpVersion, err := env.Tools.version(ctx, "pg_dump")
	if err != nil {
		return Manifest{}, err
	}
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return Manifest{}, fmt.Errorf("connect to database %q at %s: %w", db.name, db.host, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var serverVersion string
	var serverNum int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").Scan(&serverVersion, &serverNum); err != nil {
		return Manifest{}, fmt.Errorf("read server version: %w", err)
	}
	// pg_dump refuses a newer server itself, but only once connected and
	// in words an operator may not connect to "the image is outdated".
	if serverMajor := serverNum / 10000; dumpVersion.major < serverMajor {
		return Manifest{}, fmt.Errorf("pg_dump %s is older than the server (PostgreSQL %s) and cannot dump it faithfully: install pg_dump %d or newer (BACKUP_PG_BIN_DIR selects which one runs)",
			dumpVersion.full, serverVersion, serverMajor)
	}

	// The row counts and the dump come from one exported snapshot, so
	// verify-backup can demand exact equality even on a busy database. The
	// exporting transaction must stay open until pg_dump is done.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Manifest{}, fmt.Errorf("begin snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return Manifest{}, fmt.Errorf("export snapshot: %w", err)
	}
	counts, err := rowCounts(ctx, tx)
	if err != nil {
		return Manifest{}, err
	}

	key := dumpKey(env.Store.prefix, db.name, started)
	stream, err := startDump(ctx, env.Tools, db, snapshot)
	if err != nil {
		return Manifest{}, err
	}
	defer stream.stop()
	env.Log.Info("backup started", "key", env.Store.Location(key), "database", db.name,
		"pg_dump_version", dumpVersion.full, "server_version", serverVersion, "tables", len(counts))
	if env.Store.sse == config.SSENone {
		env.Log.Warn("BACKUP_SSE=none: the store is not asked to encrypt the backup; it is encrypted at rest only if the bucket does so by default")
	}
	stopProgress := logProgress(env.Log, "backup progress", env.Store.Location(key), &stream.n)
	err = env.Store.upload(ctx, key, stream, map[string]string{
		"database":        db.name,
		"pg-dump-version": dumpVersion.full,
		"server-version":  serverVersion,
		"started-at":      started.Format(time.RFC3339),
	})
	stopProgress()
	if err != nil {
		if ctx.Err() != nil {
			return Manifest{}, fmt.Errorf("backup interrupted, upload of %s abandoned: %w", env.Store.Location(key), ctx.Err())
		}
		// When pg_dump failed, that is the cause; the upload error only
		// repeats it, unless aborting the upload failed too.
		if dumpErr := stream.failure(); dumpErr != nil {
			if errors.Is(err, dumpErr) {
				return Manifest{}, fmt.Errorf("%w; the upload of %s was aborted", dumpErr, env.Store.Location(key))
			}
			return Manifest{}, fmt.Errorf("%w; then: %v", dumpErr, err)
		}
		return Manifest{}, err
	}

	m := Manifest{
		Format:        manifestFormat,
		Key:           key,
		Database:      db.name,
		StartedAt:     started,
		FinishedAt:    time.Now().UTC(),
		SizeBytes:     stream.n.Load(),
		SHA256:        hex.EncodeToString(stream.hash.Sum(nil)),
		PgDumpVersion: dumpVersion.full,
		PgDumpMajor:   dumpVersion.major,
		ServerVersion: serverVersion,
		RowCounts:     counts,
	}
	if err := env.Store.putManifest(ctx, m); err != nil {
		// Without a manifest the dump is not a backup; remove it so it
		// does not even look like one.
		if derr := env.Store.delete(context.WithoutCancel(ctx), key); derr != nil {
			env.Log.Warn("could not delete the dump of a failed backup", "key", env.Store.Location(key), "error", derr.Error())
		}
		return Manifest{}, err
	}
	return m, nil
}

// dumpStream is pg_dump's output, hashed and counted as it is read. It ends
// with io.EOF only if pg_dump exited successfully: a dump cut short (pg_dump
// killed, connection lost) is an error, so the upload aborts instead of
// completing a truncated object.
type dumpStream struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tail
	hash   hash.Hash
	n      atomic.Int64
	err    error // sticky: io.EOF or pg_dump's failure
	waited bool
}

func startDump(ctx context.Context, tools Tools, db dbURL, snapshot string) (*dumpStream, error) {
	cmd := tools.command(ctx, db, "pg_dump", "--format=custom", "--snapshot="+snapshot)
	s := &dumpStream{cmd: cmd, stderr: &tail{}, hash: sha256.New()}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.out = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pg_dump: %w", err)
	}
	return s, nil
}

func (s *dumpStream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.out.Read(p)
	s.hash.Write(p[:n])
	s.n.Add(int64(n))
	switch {
	case err == io.EOF:
		s.waited = true
		if werr := s.cmd.Wait(); werr != nil {
			s.err = toolError("pg_dump", werr, s.stderr)
		} else {
			s.err = io.EOF
		}
		return n, s.err
	case err != nil:
		s.err = fmt.Errorf("read pg_dump output: %w", err)
		return n, s.err
	}
	return n, nil
}

// failure is pg_dump's error, if it failed.
func (s *dumpStream) failure() error {
	if s.err == io.EOF {
		return nil
	}
	return s.err
}

// stop kills pg_dump if the upload gave up before the end of its output.
func (s *dumpStream) stop() {
	if s.waited {
		return
	}
	s.waited = true
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// logProgress logs the bytes moved so far every progressEvery until the
// returned function is called.
func logProgress(log *slog.Logger, msg, key string, n *atomic.Int64) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log.Info(msg, "key", key, "bytes", n.Load())
			}
		}
	}()
	return func() { close(done) }
}
