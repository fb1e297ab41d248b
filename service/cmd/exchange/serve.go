package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/httpapi"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
)

func newLogger(env *environment) (*slog.Logger, error) {
	lvl, err := config.LogLevel(env.getenv)
	if err != nil {
		return nil, usageError{err}
	}
	return slog.New(slog.NewJSONHandler(env.stderr, &slog.HandlerOptions{Level: lvl})), nil
}

func openDatabase(ctx context.Context, env *environment, log *slog.Logger) (*gorm.DB, error) {
	cfg, err := config.LoadDatabase(env.getenv)
	if err != nil {
		return nil, usageError{err}
	}
	return database.Open(ctx, cfg, log)
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(nopWriter{})
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func runServe(ctx context.Context, env *environment, args []string) error {
	if err := parseFlags(flag.NewFlagSet("serve", flag.ContinueOnError), args); err != nil {
		return err
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	srvCfg, err := config.LoadServer(env.getenv)
	if err != nil {
		return usageError{err}
	}
	db, err := openDatabase(ctx, env, log)
	if err != nil {
		return err
	}
	return serve(ctx, db, srvCfg, log, nil)
}

// serve runs the HTTP server on db until ctx ends, then closes the pool.
func serve(ctx context.Context, db *gorm.DB, cfg config.Server, log *slog.Logger, ready func(net.Addr)) error {
	sqlDB := database.SQL(db)
	defer sqlDB.Close()
	now := func() time.Time { return time.Now().UTC() }
	authSvc, err := auth.New(db, cfg.SecretKey, now)
	if err != nil {
		return err
	}
	srv := httpapi.New(httpapi.Deps{
		DB:       db,
		Auth:     authSvc,
		Wallet:   wallet.New(db, cfg.Mode, now),
		Config:   cfg,
		Log:      log,
		Registry: httpapi.NewRegistry(sqlDB),
		Now:      now,
	})
	go prune(ctx, authSvc, log)
	err = srv.Run(ctx, func(addr net.Addr) {
		log.Info("serving", "addr", addr.String(), "mode", string(cfg.Mode))
		if ready != nil {
			ready(addr)
		}
	})
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// prune clears expired sessions and replay-window signatures every minute.
func prune(ctx context.Context, a *auth.Service, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Prune(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("prune expired auth records", "error", err.Error())
			}
		}
	}
}
