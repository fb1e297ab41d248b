package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
)

// Report is what verification found. An empty report is a good backup.
type Report struct {
	Violations []ledger.Violation
	CountDiffs []string
}

// OK says whether the backup restored into a database that passes every
// check.
func (r Report) OK() bool { return len(r.Violations) == 0 && len(r.CountDiffs) == 0 }

// Verify restores the backup m into a scratch database on the server at
// serverURL (its role needs CREATEDB; the URL's own database is only used
// to connect), runs the ledger invariant check on it and compares every
// table's row count with the counts recorded at backup time. The scratch
// database is dropped afterwards, also on failure. The error is for
// failures to verify; what verification found is in the report.
func Verify(ctx context.Context, env Env, m Manifest, serverURL string) (Report, error) {
	admin, err := parseDBURL(serverURL)
	if err != nil {
		return Report{}, err
	}
	r, err := verify(ctx, env, m, serverURL, admin)
	return r, redact(err, admin.password)
}

func verify(ctx context.Context, env Env, m Manifest, serverURL string, admin dbURL) (Report, error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return Report{}, fmt.Errorf("connect to verification server %s: %w", admin.host, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	suffix := make([]byte, 3)
	rand.Read(suffix)
	scratch := "exchange_verify_" + time.Now().UTC().Format("20060102t150405") + "_" + hex.EncodeToString(suffix)
	ident := pgx.Identifier{scratch}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return Report{}, fmt.Errorf("create scratch database on %s (the role needs CREATEDB): %w", admin.host, err)
	}
	env.Log.Info("scratch database created", "database", scratch, "server", admin.host)
	defer func() {
		// A fresh context: the scratch copy must go even when ctx is done.
		dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := conn.Exec(dropCtx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			env.Log.Error("could not drop the scratch database; drop it by hand", "database", scratch, "server", admin.host, "error", err.Error())
			return
		}
		env.Log.Info("scratch database dropped", "database", scratch)
	}()

	scratchURL, err := withDatabase(serverURL, scratch)
	if err != nil {
		return Report{}, err
	}
	if err := Restore(ctx, env, m, scratchURL, RestoreOptions{NoOwner: true}); err != nil {
		return Report{}, err
	}

	db, err := database.Open(ctx, config.Database{URL: scratchURL, MaxOpenConns: 2, MaxIdleConns: 1, ConnMaxLifetime: time.Hour}, env.Log)
	if err != nil {
		return Report{}, fmt.Errorf("open scratch database: %w", err)
	}
	defer database.SQL(db).Close()
	var r Report
	if r.Violations, err = ledger.Check(ctx, db); err != nil {
		return Report{}, err
	}
	sc, err := pgx.Connect(ctx, scratchURL)
	if err != nil {
		return Report{}, fmt.Errorf("connect to scratch database: %w", err)
	}
	defer sc.Close(context.WithoutCancel(ctx))
	restored, err := rowCounts(ctx, sc)
	if err != nil {
		return Report{}, err
	}
	r.CountDiffs = countDifferences(m.RowCounts, restored)
	return r, nil
}
