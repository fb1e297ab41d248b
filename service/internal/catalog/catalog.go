// Package catalog holds what the exchange lists: assets and the markets
// between them, with the rules (precision, tick, lot, minimum notional, fees)
// that every amount and order is checked against.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/money"
)

// Asset is a currency users hold.
type Asset struct {
	Symbol               string       `gorm:"primaryKey" json:"symbol"`
	Name                 string       `json:"name"`
	Precision            int          `json:"precision"`
	WithdrawalDailyLimit money.Amount `json:"withdrawal_daily_limit"`
	// DepositMax caps one deposit, BalanceMax what an account may hold
	// after a deposit or an adjustment: no user can push a shared total to
	// the edge of the range and so make someone else's deposit fail.
	DepositMax money.Amount `json:"deposit_max"`
	BalanceMax money.Amount `json:"balance_max"`
	CreatedAt  time.Time    `json:"-"`
}

// MaxBalanceCap is the largest balance cap an asset may have: a tenth of
// the amounts' range, so that trades, which may credit an account beyond
// its cap, stay far from the edge.
const MaxBalanceCap money.Amount = 10_000_000_000 * money.One

// Market statuses.
const (
	MarketOpen   = "open"
	MarketHalted = "halted"
)

// Market is an order book between two assets.
type Market struct {
	Name        string       `gorm:"primaryKey" json:"name"`
	Base        string       `json:"base"`
	Quote       string       `json:"quote"`
	TickSize    money.Amount `json:"tick_size"`
	LotSize     money.Amount `json:"lot_size"`
	MinNotional money.Amount `json:"min_notional"`
	MakerFeeBps int          `json:"maker_fee_bps"`
	TakerFeeBps int          `json:"taker_fee_bps"`
	Status      string       `json:"status"`
	CreatedAt   time.Time    `json:"-"`
}

// CheckAmount validates a positive amount of this asset.
func (a Asset) CheckAmount(x money.Amount) error {
	if x <= 0 {
		return apierr.New(apierr.InvalidAmount, "amount must be greater than zero")
	}
	if !x.FitsPrecision(a.Precision) {
		return apierr.New(apierr.InvalidAmount, "%s amounts have at most %d decimal places, got %s", a.Symbol, a.Precision, x)
	}
	return nil
}

// ParseAmount parses and validates a positive amount of this asset.
func (a Asset) ParseAmount(s string) (money.Amount, error) {
	x, err := money.Parse(s)
	switch {
	case errors.Is(err, money.ErrPrecision):
		return 0, apierr.New(apierr.InvalidAmount, "%s amounts have at most %d decimal places, got %q", a.Symbol, a.Precision, s)
	case errors.Is(err, money.ErrRange):
		return 0, apierr.New(apierr.InvalidAmount, "amount %q is out of range", s)
	case err != nil:
		return 0, apierr.New(apierr.InvalidAmount, "amount %q is not a decimal string like \"12.5\"", s)
	}
	return x, a.CheckAmount(x)
}

// Validate checks a market's rules against its assets. The tick's and lot's
// decimals together must fit the quote asset's precision, so that every
// price*quantity is an exact quote amount and no trade ever rounds.
func (m Market) Validate(base, quote Asset) error {
	switch {
	case m.Name != m.Base+"-"+m.Quote:
		return fmt.Errorf("market %s: name must be BASE-QUOTE", m.Name)
	case m.TickSize <= 0 || m.LotSize <= 0 || m.MinNotional < 0:
		return fmt.Errorf("market %s: tick and lot must be positive, min notional not negative", m.Name)
	case !m.LotSize.FitsPrecision(base.Precision):
		return fmt.Errorf("market %s: lot %s is finer than %s precision %d", m.Name, m.LotSize, base.Symbol, base.Precision)
	case m.TickSize.Decimals()+m.LotSize.Decimals() > quote.Precision:
		return fmt.Errorf("market %s: tick %s and lot %s give notionals finer than %s precision %d", m.Name, m.TickSize, m.LotSize, quote.Symbol, quote.Precision)
	case m.MakerFeeBps < 0 || m.MakerFeeBps > 1000 || m.TakerFeeBps < 0 || m.TakerFeeBps > 1000:
		return fmt.Errorf("market %s: fees must be 0..1000 basis points", m.Name)
	}
	return nil
}

// Assets lists every asset by symbol.
func Assets(ctx context.Context, db *gorm.DB) ([]Asset, error) {
	var out []Asset
	if err := db.WithContext(ctx).Order("symbol").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	return out, nil
}

// AssetBySymbol finds one asset; an unknown symbol is the client's error.
func AssetBySymbol(ctx context.Context, db *gorm.DB, symbol string) (Asset, error) {
	var a Asset
	err := db.WithContext(ctx).Where("symbol = ?", symbol).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, apierr.New(apierr.UnknownAsset, "unknown asset %q", symbol)
	}
	if err != nil {
		return a, fmt.Errorf("load asset %s: %w", symbol, err)
	}
	return a, nil
}

// Markets lists every market by name.
func Markets(ctx context.Context, db *gorm.DB) ([]Market, error) {
	var out []Market
	if err := db.WithContext(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list markets: %w", err)
	}
	return out, nil
}

// Listing is a set of assets and markets to seed.
type Listing struct {
	Assets  []Asset
	Markets []Market
}

// Defaults is what a new exchange lists: BTC, ETH, USDT and three markets.
func Defaults() Listing {
	m := money.MustParse
	return Listing{
		Assets: []Asset{
			{Symbol: "BTC", Name: "Bitcoin", Precision: 8, WithdrawalDailyLimit: m("10"), DepositMax: m("1000"), BalanceMax: m("10000")},
			{Symbol: "ETH", Name: "Ether", Precision: 8, WithdrawalDailyLimit: m("200"), DepositMax: m("20000"), BalanceMax: m("200000")},
			{Symbol: "USDT", Name: "Tether USD", Precision: 6, WithdrawalDailyLimit: m("1000000"), DepositMax: m("100000000"), BalanceMax: m("1000000000")},
		},
		Markets: []Market{
			{Name: "BTC-USDT", Base: "BTC", Quote: "USDT", TickSize: m("0.01"), LotSize: m("0.0001"), MinNotional: m("1"), MakerFeeBps: 10, TakerFeeBps: 20, Status: MarketOpen},
			{Name: "ETH-USDT", Base: "ETH", Quote: "USDT", TickSize: m("0.01"), LotSize: m("0.001"), MinNotional: m("1"), MakerFeeBps: 10, TakerFeeBps: 20, Status: MarketOpen},
			{Name: "ETH-BTC", Base: "ETH", Quote: "BTC", TickSize: m("0.00001"), LotSize: m("0.001"), MinNotional: m("0.0001"), MakerFeeBps: 10, TakerFeeBps: 20, Status: MarketOpen},
		},
	}
}

// Seed inserts the listing's assets and markets that do not exist yet and
// leaves existing ones (and their status) alone, so it is safe to rerun.
func Seed(ctx context.Context, db *gorm.DB, l Listing) error {
	bySymbol := map[string]Asset{}
	for _, a := range l.Assets {
		if a.Precision < 0 || a.Precision > money.Scale {
			return fmt.Errorf("asset %s: precision must be 0..%d", a.Symbol, money.Scale)
		}
		if a.DepositMax <= 0 || a.BalanceMax < a.DepositMax || a.BalanceMax > MaxBalanceCap {
			return fmt.Errorf("asset %s: need 0 < deposit max <= balance max <= %s", a.Symbol, MaxBalanceCap)
		}
		bySymbol[a.Symbol] = a
	}
	for _, m := range l.Markets {
		base, okB := bySymbol[m.Base]
		quote, okQ := bySymbol[m.Quote]
		if !okB || !okQ {
			return fmt.Errorf("market %s: both assets must be in the listing", m.Name)
		}
		if err := m.Validate(base, quote); err != nil {
			return err
		}
	}
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(l.Assets) > 0 {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&l.Assets).Error; err != nil {
				return fmt.Errorf("seed assets: %w", err)
			}
		}
		if len(l.Markets) > 0 {
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&l.Markets).Error; err != nil {
				return fmt.Errorf("seed markets: %w", err)
			}
		}
		return nil
	})
}

// Cache keeps the listing in memory for the request path, refreshed after
// ttl. Markets' rules change rarely; the sequencer, not this cache, is the
// authority on whether a market is halted.
type Cache struct {
	db  *gorm.DB
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	loaded  time.Time
	assets  map[string]Asset
	markets map[string]Market
}

// NewCache makes a cache over db.
func NewCache(db *gorm.DB, ttl time.Duration, now func() time.Time) *Cache {
	return &Cache{db: db, ttl: ttl, now: now}
}

// Market returns a market and its two assets.
func (c *Cache) Market(ctx context.Context, name string) (Market, Asset, Asset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fresh(ctx); err != nil {
		return Market{}, Asset{}, Asset{}, err
	}
	m, ok := c.markets[name]
	if !ok {
		return Market{}, Asset{}, Asset{}, apierr.New(apierr.UnknownMarket, "unknown market %q", name)
	}
	return m, c.assets[m.Base], c.assets[m.Quote], nil
}

// Assets lists every asset by symbol, as of the cache's last refresh.
func (c *Cache) Assets(ctx context.Context) ([]Asset, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fresh(ctx); err != nil {
		return nil, err
	}
	return slices.SortedFunc(maps.Values(c.assets), func(a, b Asset) int { return strings.Compare(a.Symbol, b.Symbol) }), nil
}

// Markets lists every market by name, as of the cache's last refresh.
func (c *Cache) Markets(ctx context.Context) ([]Market, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fresh(ctx); err != nil {
		return nil, err
	}
	return slices.SortedFunc(maps.Values(c.markets), func(a, b Market) int { return strings.Compare(a.Name, b.Name) }), nil
}

// fresh refreshes the listing when it is older than the ttl; c.mu is held.
func (c *Cache) fresh(ctx context.Context) error {
	if c.markets == nil || c.now().Sub(c.loaded) > c.ttl {
		return c.refresh(ctx)
	}
	return nil
}

func (c *Cache) refresh(ctx context.Context) error {
	assets, err := Assets(ctx, c.db)
	if err != nil {
		return err
	}
	markets, err := Markets(ctx, c.db)
	if err != nil {
		return err
	}
	c.assets, c.markets = map[string]Asset{}, map[string]Market{}
	for _, a := range assets {
		c.assets[a.Symbol] = a
	}
	for _, m := range markets {
		c.markets[m.Name] = m
	}
	c.loaded = c.now()
	return nil
}

// Invalidate makes the next lookup reload, after this replica changed a market.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.markets = nil
	c.mu.Unlock()
}
