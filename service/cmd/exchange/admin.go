package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/migrate"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	seed := fs.Bool("seed", false, "also list the default assets and markets (skips those that exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, env, log)
	if err != nil {
		return err
	}
	defer database.SQL(db).Close()
	n, err := migrate.Up(ctx, database.SQL(db), log)
	if err != nil {
		return err
	}
	log.Info("migrations done", "applied", n, "version", migrate.Latest())
	if *seed {
		if err := catalog.Seed(ctx, db, catalog.Defaults()); err != nil {
			return err
		}
		log.Info("default listing seeded")
	}
	return nil
}

func runCheckLedger(ctx context.Context, env *environment, args []string) error {
	if err := parseFlags(flag.NewFlagSet("check-ledger", flag.ContinueOnError), args); err != nil {
		return err
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, env, log)
	if err != nil {
		return err
	}
	defer database.SQL(db).Close()
	violations, err := ledger.Check(ctx, db)
	if err != nil {
		return err
	}
	ledger.WriteReport(env.stdout, violations)
	if len(violations) > 0 {
		fmt.Fprintf(env.stdout, "%d of %d invariants violated\n", len(violations), len(ledger.Invariants))
		return errFailedCheck
	}
	fmt.Fprintf(env.stdout, "all %d invariants hold\n", len(ledger.Invariants))
	return nil
}

func runCreateAdmin(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	email := fs.String("email", "", "the admin's email address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError{errors.New("--email is required")}
	}
	password := env.getenv("ADMIN_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && line == "" {
			return usageError{errors.New("give the password in ADMIN_PASSWORD or on stdin")}
		}
		password = strings.TrimRight(line, "\r\n")
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, env, log)
	if err != nil {
		return err
	}
	defer database.SQL(db).Close()
	a, err := auth.New(db, nil, func() time.Time { return time.Now().UTC() })
	if err != nil {
		return err
	}
	u, err := a.Register(ctx, *email, password, auth.RoleAdmin)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "admin %s created (id %d)\n", u.Email, u.ID)
	return nil
}
