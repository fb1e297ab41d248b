package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/httpserver"
	"github.com/crypto-exchange/exchange/service/internal/replica"
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

// helpRequested is -h or --help: the caller prints the command's usage.
type helpRequested struct{ fs *flag.FlagSet }

func (helpRequested) Error() string { return "help requested" }

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(nopWriter{})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpRequested{fs}
		}
		if strings.HasPrefix(err.Error(), "flag provided but not defined") {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
			allowed := "this command takes no flags"
			if len(names) > 0 {
				allowed = "allowed: " + strings.Join(names, ", ")
			}
			return usageError{fmt.Errorf("%s; %s (--help explains them)", err, allowed)}
		}
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
	dbCfg, err := config.LoadDatabase(env.getenv)
	if err != nil {
		return usageError{err}
	}
	db, err := database.Open(ctx, dbCfg, log)
	if err != nil {
		return err
	}
	tuneGC(env.getenv, cgroupMemoryLimit)
	return serve(ctx, db, dbCfg, srvCfg, log, nil)
}

// serve runs one replica on db until ctx ends, then drains and closes the
// pool.
func serve(ctx context.Context, db *gorm.DB, dbCfg config.Database, cfg config.Server, log *slog.Logger, ready func(net.Addr)) error {
	defer database.SQL(db).Close()
	rcfg := replica.Config{DB: db, DatabaseURL: dbCfg.URL, Server: cfg, Log: log, ReadMaxLag: dbCfg.ReadMaxLag}
	if dbCfg.ReadURL != "" {
		rdb, err := database.OpenReplica(dbCfg, log)
		if err != nil {
			return err
		}
		defer database.SQL(rdb).Close()
		rcfg.ReadDB = rdb
	}
	r, err := replica.New(rcfg)
	if err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		go servePprof(cfg.PprofAddr, log)
	}
	stop := func() {}
	defer func() { stop() }()
	err = r.Server.Run(ctx, func(addrs httpserver.Addrs) {
		stop = r.Start(ctx, advertiseURL(cfg.Advertise, addrs.Internal))
		log.Info("serving", "addr", addrs.Public.String(), "internal_addr", addrs.Internal.String(), "mode", string(cfg.Mode))
		if ready != nil {
			ready(addrs.Public)
		}
	}, func() {
		// The public side has drained: hand the leadership over now, while
		// the internal side still answers the other replicas' forwards.
		stop()
	})
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// advertiseURL is ADVERTISE_URL, or else the internal listener's address,
// with loopback standing in for an unspecified host (single-machine runs).
func advertiseURL(configured string, addr net.Addr) string {
	if configured != "" {
		return configured
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("http://127.0.0.1:%d", tcp.Port)
	}
	return "http://" + addr.String()
}

// servePprof exposes Go's profiler for performance work; it is off unless
// PPROF_ADDR is set.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("profiler listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("profiler stopped", "error", err.Error())
	}
}
