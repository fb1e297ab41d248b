package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Errors a caller (or test) can tell apart.
var (
	ErrNotEmpty = errors.New("target database is not empty")
	ErrChecksum = errors.New("backup checksum mismatch")
)

// RestoreOptions choose how a restore treats its target.
type RestoreOptions struct {
	// Force restores into a database that already holds objects:
	// pg_restore drops each object the backup contains (--clean
	// --if-exists) before recreating it, in the same transaction.
	Force bool
	// NoOwner skips ownership and grants, for a scratch database on a
	// server that may not have the original roles.
	NoOwner bool
}

// holdBackBytes of the object are kept from pg_restore until the checksum
// of the whole object has been verified. pg_restore reads its input to the
// end before it can finish the last table's data and commit, so while it
// waits for these bytes its single transaction cannot commit: a corrupt
// object is stopped with nothing restored.
const holdBackBytes = 64 << 10

// Restore streams the backup described by m into the database at
// targetURL through pg_restore, verifying the object's SHA-256 and size
// against the manifest on the way. The whole restore is one transaction,
// committed only after the checksum matched; on any failure the target is
// left as it was. Error messages never contain the database password.
func Restore(ctx context.Context, env Env, m Manifest, targetURL string, opts RestoreOptions) error {
	db, err := parseDBURL(targetURL)
	if err != nil {
		return err
	}
	return redact(restore(ctx, env, m, targetURL, db, opts), db.password)
}

func restore(ctx context.Context, env Env, m Manifest, targetURL string, db dbURL, opts RestoreOptions) error {
	restoreVersion, err := env.Tools.version(ctx, "pg_restore")
	if err != nil {
		return err
	}
	if restoreVersion.major < m.PgDumpMajor {
		return fmt.Errorf("pg_restore %s cannot read a dump made by pg_dump %s: install pg_restore %d or newer (BACKUP_PG_BIN_DIR selects which one runs)",
			restoreVersion.full, m.PgDumpVersion, m.PgDumpMajor)
	}
	objects, err := countObjects(ctx, targetURL, db)
	if err != nil {
		return err
	}
	if objects > 0 && !opts.Force {
		return fmt.Errorf("%w: database %q at %s already holds %d schemas, relations or functions; restore into an empty database, or pass --force to drop and replace the objects the backup contains",
			ErrNotEmpty, db.name, db.host, objects)
	}

	body, err := env.Store.open(ctx, m.Key)
	if err != nil {
		return err
	}
	defer body.Close()

	args := []string{"--exit-on-error", "--single-transaction"}
	if opts.Force {
		args = append(args, "--clean", "--if-exists")
	}
	if opts.NoOwner {
		args = append(args, "--no-owner", "--no-privileges")
	}
	cmd := env.Tools.command(ctx, db, "pg_restore", args...)
	output := &tail{}
	cmd.Stdout, cmd.Stderr = output, output
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pg_restore: %w", err)
	}
	// stop ends pg_restore before it commits: killed, its connection
	// drops and the server rolls the transaction back.
	stop := func() error {
		stdin.Close()
		cmd.Process.Kill()
		return cmd.Wait()
	}

	env.Log.Info("restore started", "key", env.Store.Location(m.Key), "database", db.name, "bytes", m.SizeBytes, "force", opts.Force)
	sum := sha256.New()
	in := &countingReader{r: io.TeeReader(body, sum)}
	held := &holdBack{w: stdin, size: holdBackBytes}
	stopProgress := logProgress(env.Log, "restore progress", env.Store.Location(m.Key), &in.n)
	_, err = io.Copy(held, in)
	stopProgress()
	if err != nil {
		werr := stop()
		if ctx.Err() != nil {
			return fmt.Errorf("restore interrupted, nothing was restored: %w", ctx.Err())
		}
		if errors.Is(err, errRestoreInput) {
			return fmt.Errorf("%w; nothing was restored", toolError("pg_restore", werr, output))
		}
		return fmt.Errorf("read %s: %w; pg_restore was stopped, nothing was restored", env.Store.Location(m.Key), err)
	}

	got := hex.EncodeToString(sum.Sum(nil))
	if got != m.SHA256 || in.n.Load() != m.SizeBytes {
		stop()
		return fmt.Errorf("%w: %s is %d bytes with SHA-256 %s, but its manifest records %d bytes with SHA-256 %s; the backup is corrupt or was altered. pg_restore was stopped before it could commit: nothing was restored",
			ErrChecksum, env.Store.Location(m.Key), in.n.Load(), got, m.SizeBytes, m.SHA256)
	}
	if err := held.flush(); err != nil {
		return fmt.Errorf("%w; nothing was restored", toolError("pg_restore", stop(), output))
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%w; nothing was restored", toolError("pg_restore", err, output))
	}
	return nil
}

// countObjects counts what a restore could collide with: schemas other
// than public, and relations and functions in user schemas.
func countObjects(ctx context.Context, rawURL string, db dbURL) (int, error) {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return 0, fmt.Errorf("connect to target database %q at %s: %w", db.name, db.host, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_namespace n WHERE `+userSchemas+` AND n.nspname <> 'public')
		+ (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE `+userSchemas+`)
		+ (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE `+userSchemas+`)`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("inspect target database: %w", err)
	}
	return n, nil
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// errRestoreInput marks a failed write to pg_restore: it has exited.
var errRestoreInput = errors.New("write to pg_restore")

// holdBack forwards all but the last size bytes written to it; flush sends
// those.
type holdBack struct {
	w    io.Writer
	size int
	tail []byte
}

func (h *holdBack) Write(p []byte) (int, error) {
	excess := len(h.tail) + len(p) - h.size
	if excess <= 0 {
		h.tail = append(h.tail, p...)
		return len(p), nil
	}
	// Forward the oldest excess bytes: first from the kept tail, then
	// from p; keep the rest.
	fromTail := min(excess, len(h.tail))
	if err := h.forward(h.tail[:fromTail]); err != nil {
		return 0, err
	}
	kept := copy(h.tail, h.tail[fromTail:])
	h.tail = h.tail[:kept]
	fromP := excess - fromTail
	if err := h.forward(p[:fromP]); err != nil {
		return 0, err
	}
	h.tail = append(h.tail, p[fromP:]...)
	return len(p), nil
}

func (h *holdBack) forward(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := h.w.Write(b); err != nil {
		return fmt.Errorf("%w: %w", errRestoreInput, err)
	}
	return nil
}

func (h *holdBack) flush() error {
	err := h.forward(h.tail)
	h.tail = h.tail[:0]
	return err
}
