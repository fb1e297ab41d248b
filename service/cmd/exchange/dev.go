package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/localpg"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
)

const devAdminEmail = "admin@example.com"

// runDev gives a newcomer a working exchange with one command: its own
// PostgreSQL, the schema, the default listing, demo deposits and an admin.
func runDev(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve on")
	dataDir := fs.String("data-dir", "", "keep the database in this directory across runs (default: a temporary one, deleted on exit)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	pg, err := localpg.Start(ctx, localpg.Options{Dir: *dataDir, Unsafe: *dataDir == ""})
	if err != nil {
		return err
	}
	defer func() {
		if err := pg.Stop(); err != nil {
			log.Error("stop postgres", "error", err.Error())
		}
	}()
	dbURL := pg.URL("exchange")
	if err := createDatabase(ctx, pg.URL("postgres"), "exchange"); err != nil {
		return err
	}
	secret, err := devSecret(*dataDir)
	if err != nil {
		return err
	}
	overrides := map[string]string{
		"DATABASE_URL":   dbURL,
		"HTTP_ADDR":      *addr,
		"INTERNAL_ADDR":  "127.0.0.1:0", // metrics, on loopback only
		"EXCHANGE_MODE":  string(config.ModeDemo),
		"SECRET_KEY":     secret,
		"SECURE_COOKIES": "false", // plain HTTP on localhost
	}
	getenv := func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return env.getenv(k)
	}
	dbCfg, err := config.LoadDatabase(getenv)
	if err != nil {
		return usageError{err}
	}
	srvCfg, err := config.LoadServer(getenv)
	if err != nil {
		return usageError{err}
	}
	db, err := database.Open(ctx, dbCfg, log)
	if err != nil {
		return err
	}
	if _, err := migrate.Up(ctx, database.SQL(db), log); err != nil {
		return err
	}
	if err := catalog.Seed(ctx, db, catalog.Defaults()); err != nil {
		return err
	}
	admin, err := devAdmin(ctx, db)
	if err != nil {
		return err
	}
	keep := "deleted on exit"
	if *dataDir != "" {
		keep = "kept"
	}
	return serve(ctx, db, dbCfg, srvCfg, log, func(a net.Addr) {
		url := "http://" + a.String()
		fmt.Fprintf(env.stdout, `
Exchange (demo mode: deposits are credited at once) is running at %s
  API:      %s/api/v1/markets (see service/api/openapi.yaml)
  Admin:    %s
  Database: %s
            in %s (%s)
Press Ctrl-C to stop.

`, url, url, admin, dbURL, pg.Dir(), keep)
	})
}

// devAdmin creates the admin account and describes how to log in.
func devAdmin(ctx context.Context, db *gorm.DB) (string, error) {
	a, err := auth.New(db, nil, func() time.Time { return time.Now().UTC() })
	if err != nil {
		return "", err
	}
	password := randomHex(12)
	_, err = a.Register(ctx, devAdminEmail, password, auth.RoleAdmin)
	if e, ok := apierr.As(err); ok && e.Code == apierr.EmailTaken {
		return devAdminEmail + " (password as printed on the first run with this --data-dir)", nil
	}
	if err != nil {
		return "", err
	}
	return devAdminEmail + " / " + password, nil
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := sql.Open("pgx", adminURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// devSecret is random per run, or kept in the data directory so API keys
// sealed in an earlier run still open.
func devSecret(dataDir string) (string, error) {
	if dataDir == "" {
		return randomHex(32), nil
	}
	path := filepath.Join(dataDir, "secret_key")
	if b, err := os.ReadFile(path); err == nil {
		return string(b), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	key := randomHex(32)
	return key, os.WriteFile(path, []byte(key), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
