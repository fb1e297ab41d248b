package backup

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/catalog"
	"github.com/crypto-exchange/exchange/service/internal/config"
	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/logtest"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
	"github.com/crypto-exchange/exchange/service/internal/s3test"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/wallet"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const bucket = "exchange-backups"

// rig is a real S3-compatible server with a bucket, and the backup Env
// that talks to it.
type rig struct {
	t   *testing.T
	s3  *s3test.Server
	cfg config.Backup
	env Env
	log *logtest.Buffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv, err := s3test.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	if err := srv.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	// The AWS SDK reads credentials from the process environment, as it
	// does in production; nothing from the machine's ~/.aws may leak in.
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	r := &rig{t: t, s3: srv, log: &logtest.Buffer{}}
	r.cfg = config.Backup{
		Bucket: bucket, Prefix: "backups/test", Region: s3test.Region, Endpoint: srv.URL(), ForcePathStyle: true,
		SSE: config.SSES3, PartSize: 5 << 20, Concurrency: 2, PGBinDir: pgtest.BinDir(),
	}
	r.reconfigure()
	return r
}

// reconfigure rebuilds the Env after a test changed cfg or the credentials.
func (r *rig) reconfigure() {
	r.t.Helper()
	store, err := NewStore(context.Background(), r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.env = Env{Store: store, Tools: Tools{BinDir: r.cfg.PGBinDir, Env: os.Environ()}, Log: slog.New(slog.NewJSONHandler(r.log, nil))}
}

// keys lists what the bucket holds, straight from the server's storage.
func (r *rig) keys() []string {
	r.t.Helper()
	keys, err := r.s3.Keys(bucket)
	if err != nil {
		r.t.Fatal(err)
	}
	return keys
}

// pendingUploads counts multipart uploads neither completed nor aborted.
func (r *rig) pendingUploads() int {
	r.t.Helper()
	out, err := r.env.Store.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &r.cfg.Bucket})
	if err != nil {
		r.t.Fatal(err)
	}
	return len(out.Uploads)
}

// requireNothingStored fails unless the bucket holds no object at all.
func (r *rig) requireNothingStored() {
	r.t.Helper()
	if keys := r.keys(); len(keys) != 0 {
		r.t.Fatalf("a failed backup left objects behind: %v", keys)
	}
}

// realTool is the absolute path of a client tool.
func realTool(t *testing.T, tool string) string {
	t.Helper()
	// The tools of the server the tests run against, so pg_dump matches it;
	// $PATH's with an external DATABASE_URL.
	if d := pgtest.BinDir(); d != "" {
		return filepath.Join(d, tool)
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: %v", tool, err)
	}
	return p
}

// wrapTools makes a directory whose pg_dump is the given shell script
// (with $REAL_PG_DUMP the real one) and whose pg_restore is the real one.
func wrapTools(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	body := "#!/bin/sh\nREAL_PG_DUMP=" + realTool(t, "pg_dump") + "\n" + script + "\n"
	if err := os.WriteFile(filepath.Join(dir, "pg_dump"), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(realTool(t, "pg_restore"), filepath.Join(dir, "pg_restore")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openDB opens a GORM handle on url, closed at the end of the test.
func openDB(t *testing.T, u string) *gorm.DB {
	t.Helper()
	db, err := database.Open(context.Background(), config.Database{URL: u, MaxOpenConns: 4, MaxIdleConns: 4, ConnMaxLifetime: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.SQL(db).Close() })
	return db
}

// seed fills a fresh database through the service's own code paths: users
// with sessions, demo deposits, withdrawals pending, completed and
// rejected, an admin adjustment, and orders and a trade placed through a
// running sequencer (see seedTrading).
func seed(t *testing.T, dbURL string, db *gorm.DB) {
	t.Helper()
	ctx := context.Background()
	if err := catalog.Seed(ctx, db, catalog.Defaults()); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Now().UTC() }
	a, err := auth.New(db, []byte("backup-test-secret-0123456789abcdef"), now)
	if err != nil {
		t.Fatal(err)
	}
	seq, stop := startSequencer(t, dbURL)
	// Stopped before seed returns, so the sequencer holds no connection
	// while a test dumps, drops or restores the database.
	defer stop()
	client := sequencer.NewClient(seq, database.SQL(db), []byte("backup-test-secret-0123456789abcdef"))
	w := wallet.New(db, database.PrimaryReads(db), client, config.ModeDemo, now)
	var traders []auth.Owner
	admin, err := a.Register(ctx, "admin@example.com", "an admin password", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Register(ctx, "second.admin@example.com", "another admin password", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		email := fmt.Sprintf("trader%d@example.com", i)
		u, err := a.Register(ctx, email, "a trader password", auth.RoleTrader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Login(ctx, auth.LoginRequest{Email: email, Password: "a trader password", IP: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
		var account int64
		if err := db.Raw("SELECT id FROM accounts WHERE user_id = ?", u.ID).Scan(&account).Error; err != nil {
			t.Fatal(err)
		}
		o := auth.Owner{UserID: u.ID, AccountID: account}
		traders = append(traders, o)
		for _, d := range [][2]string{{"BTC", "1.5"}, {"USDT", "2500.25"}, {"ETH", "3"}} {
			if _, err := w.Deposit(ctx, o, d[0], d[1]); err != nil {
				t.Fatal(err)
			}
		}
		done, err := w.RequestWithdrawal(ctx, o, "BTC", "0.25", "bc1qexampleaddress")
		if err != nil {
			t.Fatal(err)
		}
		rejected, err := w.RequestWithdrawal(ctx, o, "USDT", "100", "0xexampleaddress")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.RequestWithdrawal(ctx, o, "ETH", "0.5", "0xexampleaddress"); err != nil {
			t.Fatal(err)
		}
		for _, by := range []int64{admin.ID, second.ID} { // four eyes
			if _, err := w.ReviewWithdrawal(ctx, by, done.ID, true, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.ReviewWithdrawal(ctx, admin.ID, rejected.ID, false, "address on a sanctions list"); err != nil {
			t.Fatal(err)
		}
		adj, err := w.Adjust(ctx, admin.ID, u.ID, "USDT", "0.75", "fee refund")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.ReviewAdjustment(ctx, second.ID, adj.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	seedTrading(t, seq, traders)
}

// startSequencer runs a sequencer that leads on dbURL until stop.
func startSequencer(t *testing.T, dbURL string) (*sequencer.Sequencer, func()) {
	t.Helper()
	seq := sequencer.New(sequencer.Config{DatabaseURL: dbURL, Retry: 20 * time.Millisecond},
		slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, nil)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); seq.Run(runCtx, "http://127.0.0.1:1") }()
	for deadline := time.Now().Add(30 * time.Second); !seq.IsLeader(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sequencer did not become leader")
		}
	}
	return seq, func() { cancel(); <-done }
}

// seedTrading places orders the way the API does, through the sequencer:
// a resting sell that a crossing buy partly fills (one trade; the taker
// filled at the maker's price, the maker partially filled), and a buy
// resting below the book.
func seedTrading(t *testing.T, seq *sequencer.Sequencer, traders []auth.Owner) {
	t.Helper()
	ctx := context.Background()
	place := func(o auth.Owner, side engine.Side, price, qty string, wantStatus orders.Status) {
		t.Helper()
		cmd := sequencer.Command{Place: &sequencer.Place{UserID: o.UserID, AccountID: o.AccountID, Market: "BTC-USDT",
			Order: engine.Order{Kind: engine.Limit, TIF: engine.GTC, Side: side, Price: money.MustParse(price), Quantity: money.MustParse(qty)}}}
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		res, err := seq.Submit(sctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil {
			t.Fatalf("place %s %s BTC at %s: %v", side, qty, price, res.Error)
		}
		if got := res.Orders[0].Status; got != wantStatus {
			t.Fatalf("place %s %s BTC at %s: status %s, want %s", side, qty, price, got, wantStatus)
		}
	}
	place(traders[0], engine.Sell, "30000", "0.1", orders.StatusOpen)
	place(traders[1], engine.Buy, "30100", "0.04", orders.StatusFilled) // crosses: one trade at 30000
	place(traders[2], engine.Buy, "29000", "0.02", orders.StatusOpen)   // rests below the ask
}

// addBulk adds a table of mib MiB of random (incompressible) bytes, so a
// dump spans several multipart parts.
func addBulk(t *testing.T, dbURL string, mib int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE bulk (id int PRIMARY KEY, payload bytea NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	// Force uncompressed out-of-line storage: TOAST compression of random
	// bytes is wasted work.
	if _, err := conn.Exec(ctx, "ALTER TABLE bulk ALTER payload SET STORAGE EXTERNAL"); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, mib)
	for i := range rows {
		b := make([]byte, 1<<20)
		rand.Read(b)
		rows[i] = []any{i, b}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"bulk"}, []string{"id", "payload"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

// recreate drops the database at dbURL and creates it again, empty: the
// disaster a restore recovers from.
func recreate(t *testing.T, dbURL string) {
	t.Helper()
	ctx := context.Background()
	name, err := DatabaseName(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	adminURL, err := withDatabase(dbURL, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	for _, stmt := range []string{"DROP DATABASE " + ident + " WITH (FORCE)", "CREATE DATABASE " + ident} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// objectCount is what a restore into dbURL would collide with.
func objectCount(t *testing.T, dbURL string) int {
	t.Helper()
	db, err := parseDBURL(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	n, err := countObjects(context.Background(), dbURL, db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// withPassword puts a password into a postgres:// URL.
func withPassword(t *testing.T, raw, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

func requireContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q", parts)
	}
	t.Logf("error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q\nlacks %q", err, p)
		}
	}
}

// putInput is a small object at key, for tests that stage the bucket.
func putInput(key string) *s3.PutObjectInput {
	b := bucket
	return &s3.PutObjectInput{Bucket: &b, Key: &key, Body: strings.NewReader("x")}
}
