package migrate_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/crypto-exchange/exchange/service/internal/migrate"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openEmpty(t *testing.T) *sql.DB {
	db, err := sql.Open("pgx", pgtest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Several pods start at once; the advisory lock must make exactly one apply.
func TestConcurrentUpAppliesOnce(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	const pods = 8
	var wg sync.WaitGroup
	applied := make([]int, pods)
	errs := make([]error, pods)
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = migrate.Up(ctx, db, quiet)
		}()
	}
	wg.Wait()
	total := 0
	for i := range pods {
		if errs[i] != nil {
			t.Fatalf("pod %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	all, _ := migrate.All()
	if total != len(all) {
		t.Fatalf("applied %d migrations in total, want %d (each exactly once)", total, len(all))
	}
	cur, err := migrate.Current(ctx, db)
	if err != nil || cur != migrate.Latest() {
		t.Fatalf("current = %d (%v), want %d", cur, err, migrate.Latest())
	}
	if n, err := migrate.Up(ctx, db, quiet); err != nil || n != 0 {
		t.Fatalf("second run applied %d (%v), want 0", n, err)
	}
}

func TestEditedMigrationIsRefused(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	if _, err := migrate.Up(ctx, db, quiet); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE schema_migrations SET checksum = 'deadbeefdeadbeef' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, db, quiet)
	if err == nil || !strings.Contains(err.Error(), "was changed after it was applied") {
		t.Fatalf("want a checksum error, got %v", err)
	}
}

func TestUnknownVersionIsRefused(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	if _, err := migrate.Up(ctx, db, quiet); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, db, quiet)
	if err == nil || !strings.Contains(err.Error(), "version 9999, which this binary does not know") {
		t.Fatalf("want an unknown-version error, got %v", err)
	}
}

func TestJournalIsAppendOnly(t *testing.T) {
	db := openEmpty(t)
	if _, err := migrate.Up(context.Background(), db, quiet); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO journal_entries (kind) VALUES ('test')"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec("UPDATE journal_entries SET memo = 'rewritten'")
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of the journal must fail, got %v", err)
	}
	if _, err := db.Exec("DELETE FROM journal_entries"); err == nil {
		t.Fatal("delete from the journal must fail")
	}
}
