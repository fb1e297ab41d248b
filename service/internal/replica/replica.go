// Package replica assembles one exchange replica over a database: the
// application services, the HTTP server, the replica's sequencer
// candidate, its market data feed, and the background chores. `exchange
// serve` runs one; the tests run the same.
package replica

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/httpserver"
	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/marketdata"
	"github.com/crypto-exchange/exchange/service/internal/proofs"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/trading"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
)

// Config is what a replica is built from.
type Config struct {
	DB          *gorm.DB
	DatabaseURL string // for the sequencer's and the feed's own connections
	// ReadDB, if set, is a streaming replica's pool for the reads that
	// tolerate lag up to ReadMaxLag (database.Reads).
	ReadDB     *gorm.DB
	ReadMaxLag time.Duration
	Server     config.Server
	Log        *slog.Logger
	// CatalogTTL is how long listing lookups are cached (default 5 s).
	CatalogTTL time.Duration
	// ElectionRetry is how often the candidate tries for leadership
	// (default 1 s).
	ElectionRetry time.Duration
}

// Replica is one assembled replica.
type Replica struct {
	Server    *httpserver.Server
	Sequencer *sequencer.Sequencer
	Feed      *marketdata.Feed
	Auth      *auth.Service
	Registry  *prometheus.Registry

	db    *gorm.DB
	reads *database.Reads
	cfg   Config
	// proofs and builder publish proof-of-liabilities snapshots.
	proofs  *proofs.Service
	builder *proofs.Builder
}

// New wires a replica; Start runs its background parts.
func New(cfg Config) (*Replica, error) {
	if cfg.CatalogTTL <= 0 {
		cfg.CatalogTTL = 5 * time.Second
	}
	now := func() time.Time { return time.Now().UTC() }
	authSvc, err := auth.New(cfg.DB, cfg.Server.SecretKey, now)
	if err != nil {
		return nil, err
	}
	sqlDB := database.SQL(cfg.DB)
	reg := httpserver.NewRegistry(sqlDB)
	reads := database.PrimaryReads(cfg.DB)
	if cfg.ReadDB != nil {
		reads = database.NewReads(cfg.DB, cfg.ReadDB, cfg.ReadMaxLag, cfg.Log, reg)
	}
	builder := proofs.NewBuilder(cfg.DatabaseURL, cfg.Log, reg, cfg.Server.ProofRetention)
	published := sequencer.NewPublished()
	seq := sequencer.New(sequencer.Config{DatabaseURL: cfg.DatabaseURL, Retry: cfg.ElectionRetry, Snapshots: builder, Published: published},
		cfg.Log, now, reg)
	seqClient := sequencer.NewClient(seq, sqlDB, cfg.Server.SecretKey)
	proofSvc := proofs.New(cfg.DB, seqClient)
	feed := marketdata.NewFeed(cfg.DatabaseURL, cfg.DB, reads, cfg.Log, marketdata.NewHub(reg), authSvc, published)
	cat := catalog.NewCache(cfg.DB, cfg.CatalogTTL, now)
	srv := httpserver.New(httpserver.Deps{
		DB:        cfg.DB,
		Auth:      authSvc,
		Wallet:    wallet.New(cfg.DB, reads, seqClient, cfg.Server.Mode, now),
		Trading:   trading.New(cfg.DB, reads, cat, seqClient, reg),
		Proofs:    proofSvc,
		Catalog:   cat,
		Sequencer: seqClient,
		Feed:      feed,
		Config:    cfg.Server,
		Log:       cfg.Log,
		Registry:  reg,
		Now:       now,
	})
	return &Replica{Server: srv, Sequencer: seq, Feed: feed, Auth: authSvc, Registry: reg, db: cfg.DB, reads: reads, cfg: cfg,
		proofs: proofSvc, builder: builder}, nil
}

// Start runs the market data feed, the chores and the sequencer candidate
// (advertising itself at advertise). The returned stop ends them and waits
// for the candidate to let go of its connection. The candidate runs until
// stop, not until ctx ends: requests still draining after SIGTERM need it.
func (r *Replica) Start(ctx context.Context, advertise string) (stop func()) {
	go r.Feed.Run(ctx)
	go r.reads.Run(ctx)
	go prune(ctx, r.Auth, r.cfg.Log)
	every := r.cfg.Server.LedgerCheckEvery
	if every <= 0 {
		every = 15 * time.Minute
	}
	go ledger.NewMonitor(r.db, r.cfg.Log, r.Registry).Run(ctx, every, r.Sequencer.IsLeader)
	// Snapshots are built on the leader, which copied the balances; every
	// replica runs a builder, idle unless it leads.
	go r.builder.Run(ctx)
	if every := r.cfg.Server.ProofSnapshotEvery; every > 0 {
		go r.builder.Schedule(ctx, r.proofs, every, r.Sequencer.IsLeader)
	}
	seqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Sequencer.Run(seqCtx, advertise)
	}()
	return func() {
		cancel()
		<-done
	}
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
