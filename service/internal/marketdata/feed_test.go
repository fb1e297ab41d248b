package marketdata

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testFeed is a feed on a fresh database with the BTC-USDT and ETH-USDT
// markets, holding a copy of their (empty) books, but not following
// events: the tests hand it events themselves.
func testFeed(t *testing.T) (*Feed, *gorm.DB) {
	t.Helper()
	url := pgtest.URL(t)
	db := pgtest.OpenURL(t, url)
	exec(t, db, `INSERT INTO assets (symbol, name, precision, withdrawal_daily_limit) VALUES
		('BTC', 'Bitcoin', 8, 100), ('ETH', 'Ether', 8, 1000), ('USDT', 'Tether', 2, 1000000)`)
	exec(t, db, `INSERT INTO markets (name, base, quote, tick_size, lot_size, min_notional, maker_fee_bps, taker_fee_bps) VALUES
		('BTC-USDT', 'BTC', 'USDT', 0.01, 0.0001, 1, 10, 20), ('ETH-USDT', 'ETH', 'USDT', 0.01, 0.001, 1, 10, 20)`)
	f := NewFeed(url, db, database.PrimaryReads(db), slog.New(slog.NewTextHandler(io.Discard, nil)), NewHub(nil), nil, nil)
	resync(t, f)
	f.ready.Store(true)
	return f, db
}

// resync takes the feed's snapshot of books and last prices, as at its
// start and after a gap.
func resync(t *testing.T, f *Feed) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := f.snapshot(ctx, conn); err != nil {
		t.Fatal(err)
	}
}

func exec(t *testing.T, db *gorm.DB, sql string, args ...any) {
	t.Helper()
	if err := db.Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// insertTrade stores a trade as the sequencer would.
func insertTrade(t *testing.T, db *gorm.DB, id int64, market, price, qty string, at time.Time) {
	t.Helper()
	p, q := money.MustParse(price), money.MustParse(qty)
	quote, err := money.MulDivFloor(p, q, money.One)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO trades (id, market, price, quantity, quote_quantity, taker_side, maker_order_id, taker_order_id,
		maker_user_id, taker_user_id, maker_fee, taker_fee, created_at) VALUES (?, ?, ?, ?, ?, 'buy', 1, 2, 1, 2, 0, 0, ?)`,
		id, market, p, q, quote, at)
}
