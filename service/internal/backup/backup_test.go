package backup

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/ledger"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

// The whole point: seed → backup → lose the database → restore → every
// table's content identical and the books still balance.
func TestRoundTrip(t *testing.T) {
	r := newRig(t)
	dbURL := pgtest.URL(t)
	db := openDB(t, dbURL)
	seed(t, dbURL, db)
	addBulk(t, dbURL, 6) // more than one 5 MiB part: a real multipart upload
	before := pgtest.Checksums(t, db)
	if len(before) < 10 {
		t.Fatalf("expected the whole schema, got tables %v", before)
	}

	var mu sync.Mutex
	var sse []string
	r.s3.OnRequest(func(req *http.Request) {
		// Object writes: PutObject and CreateMultipartUpload. (UploadPart
		// takes no SSE header; the upload's setting covers its parts.)
		q := req.URL.Query()
		if (req.Method == http.MethodPut && !q.Has("partNumber")) || (req.Method == http.MethodPost && q.Has("uploads")) {
			mu.Lock()
			sse = append(sse, req.Header.Get("X-Amz-Server-Side-Encryption"))
			mu.Unlock()
		}
	})
	m, err := Create(context.Background(), r.env, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	r.s3.OnRequest(nil)

	// What the backup recorded.
	name, _ := DatabaseName(dbURL)
	if !strings.HasPrefix(m.Key, "backups/test/"+name+"/") || !strings.HasSuffix(m.Key, ".dump") {
		t.Fatalf("key %q", m.Key)
	}
	if _, ok := keyAge(m.Key); !ok {
		t.Fatalf("key %q has no UTC timestamp", m.Key)
	}
	for _, s := range sse {
		if s != "AES256" {
			t.Fatalf("a write did not request SSE-S3: %q", sse)
		}
	}
	manifestKey, _ := ManifestKey(m.Key)
	if got := r.keys(); len(got) != 2 || got[0] != m.Key || got[1] != manifestKey {
		t.Fatalf("bucket holds %v, want the dump and its manifest", got)
	}
	data, meta, err := r.s3.Object(bucket, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != m.SizeBytes || !strings.HasPrefix(string(data), "PGDMP") {
		t.Fatalf("stored dump: %d bytes, manifest says %d", len(data), m.SizeBytes)
	}
	if v := metaValue(meta, "pg-dump-version"); v == "" || v != m.PgDumpVersion {
		t.Fatalf("dump metadata %v lacks pg-dump-version %q", meta, m.PgDumpVersion)
	}
	for table, sum := range before {
		if _, ok := m.RowCounts["public."+table]; !ok {
			t.Fatalf("manifest has no row count for %s (%s)", table, sum)
		}
	}
	if m.RowCounts["public.users"] != 6 || m.RowCounts["public.withdrawals"] != 12 { // four traders, two admins
		t.Fatalf("row counts %v", m.RowCounts)
	}
	// Trading state, written by the sequencer: three orders (filled,
	// partially filled, open) and the trade between the first two.
	if m.RowCounts["public.orders"] != 3 || m.RowCounts["public.trades"] != 1 {
		t.Fatalf("row counts %v lack the seeded orders and trade", m.RowCounts)
	}
	stored, err := r.env.Store.Manifest(context.Background(), m.Key)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SHA256 != m.SHA256 || !maps.Equal(stored.RowCounts, m.RowCounts) {
		t.Fatalf("stored manifest %+v differs from %+v", stored, m)
	}

	// Disaster: the database is gone. Restore the latest backup into a new,
	// empty one of the same name.
	recreate(t, dbURL)
	latest, err := r.env.Store.Latest(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Key != m.Key {
		t.Fatalf("latest is %s, want %s", latest.Key, m.Key)
	}
	if err := Restore(context.Background(), r.env, latest, dbURL, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	restored := openDB(t, dbURL)
	after := pgtest.Checksums(t, restored)
	if !maps.Equal(before, after) {
		for table := range before {
			if before[table] != after[table] {
				t.Errorf("table %s differs after restore", table)
			}
		}
		t.Fatalf("restore is not identical: %d tables before, %d after", len(before), len(after))
	}
	violations, err := ledger.Check(context.Background(), restored)
	if err != nil || len(violations) > 0 {
		t.Fatalf("ledger after restore: %v %+v", err, violations)
	}
	var statuses string
	if err := restored.Raw("SELECT string_agg(status, ',' ORDER BY id) FROM orders").Scan(&statuses).Error; err != nil {
		t.Fatal(err)
	}
	if statuses != "partially_filled,filled,open" {
		t.Fatalf("restored orders have statuses %q", statuses)
	}

	// The restored database is not empty: a second restore is refused
	// without --force, and with it replaces the contents.
	err = Restore(context.Background(), r.env, latest, dbURL, RestoreOptions{})
	if !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore over a live database: %v, want ErrNotEmpty", err)
	}
	requireContains(t, err, "--force")
	if err := restored.Exec("DELETE FROM sessions").Error; err != nil {
		t.Fatal(err)
	}
	if err := restored.Exec("UPDATE users SET status = 'frozen'").Error; err != nil {
		t.Fatal(err)
	}
	if err := Restore(context.Background(), r.env, latest, dbURL, RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if after := pgtest.Checksums(t, restored); !maps.Equal(before, after) {
		t.Fatal("a forced restore did not bring back the backed-up contents")
	}
}

func metaValue(meta map[string]string, name string) string {
	for k, v := range meta {
		if strings.EqualFold(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-"), name) {
			return v
		}
	}
	return ""
}

// Every object's checksum is proven on restore, and a mismatch stops
// pg_restore before it commits: the target stays empty.
func TestCorruptedObjectIsRefused(t *testing.T) {
	r := newRig(t)
	dbURL := pgtest.URL(t)
	seed(t, dbURL, openDB(t, dbURL))
	addBulk(t, dbURL, 6)
	m, err := Create(context.Background(), r.env, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := r.s3.Object(bucket, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := DatabaseName(dbURL)

	t.Run("a flipped byte pg_restore would not notice", func(t *testing.T) {
		// The archive header names the source database; pg_restore ignores
		// it, so only the checksum can catch this.
		i := strings.Index(string(good), name)
		if i < 0 {
			t.Fatal("database name not found in the archive header")
		}
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x20
		if err := r.s3.Replace(bucket, m.Key, bad); err != nil {
			t.Fatal(err)
		}
		target := pgtest.EmptyURL(t)
		err := Restore(context.Background(), r.env, m, target, RestoreOptions{})
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("restore of a corrupt object: %v, want ErrChecksum", err)
		}
		requireContains(t, err, m.SHA256, "nothing was restored")
		if n := objectCount(t, target); n != 0 {
			t.Fatalf("a corrupt restore committed %d objects", n)
		}
	})

	t.Run("a flipped byte in table data", func(t *testing.T) {
		// Well before the held-back tail: pg_restore reads it, and either
		// it fails on it or the checksum stops it.
		bad := append([]byte(nil), good...)
		bad[len(bad)/2] ^= 0xff
		if err := r.s3.Replace(bucket, m.Key, bad); err != nil {
			t.Fatal(err)
		}
		target := pgtest.EmptyURL(t)
		err := Restore(context.Background(), r.env, m, target, RestoreOptions{})
		requireContains(t, err, "nothing was restored")
		if n := objectCount(t, target); n != 0 {
			t.Fatalf("a corrupt restore committed %d objects", n)
		}
	})
}

// verify-backup restores into a scratch database it creates and drops, and
// finds both books that do not balance and rows the dump lost.
func TestVerify(t *testing.T) {
	r := newRig(t)
	dbURL := pgtest.URL(t)
	db := openDB(t, dbURL)
	seed(t, dbURL, db)
	scratchCount := func() int {
		var n int
		db.Raw("SELECT count(*) FROM pg_database WHERE datname LIKE 'exchange_verify_%'").Scan(&n)
		return n
	}

	t.Run("a good backup passes", func(t *testing.T) {
		m, err := Create(context.Background(), r.env, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		report, err := Verify(context.Background(), r.env, m, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		if !report.OK() {
			t.Fatalf("report %+v", report)
		}
		if n := scratchCount(); n != 0 {
			t.Fatalf("%d scratch databases left behind", n)
		}
	})

	t.Run("a dump that lost rows fails", func(t *testing.T) {
		// A pg_dump that silently leaves out one table's data, while the
		// row counts were taken from the database itself.
		r.cfg.PGBinDir = wrapTools(t, `exec "$REAL_PG_DUMP" "$@" --exclude-table-data=public.deposits`)
		r.reconfigure()
		time.Sleep(time.Second) // a new key: the timestamp has one-second resolution
		m, err := Create(context.Background(), r.env, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		report, err := Verify(context.Background(), r.env, m, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		want := "public.deposits: 12 rows recorded at backup time, 0 after restore"
		if report.OK() || len(report.CountDiffs) != 1 || report.CountDiffs[0] != want {
			t.Fatalf("count differences %q, want [%q]", report.CountDiffs, want)
		}
		if n := scratchCount(); n != 0 {
			t.Fatalf("%d scratch databases left behind", n)
		}
	})

	t.Run("books that do not balance fail", func(t *testing.T) {
		r.cfg.PGBinDir = pgtest.BinDir()
		r.reconfigure()
		// The fee account already holds BTC from the seeded trade's fee:
		// add to its row, or make one, without a journal entry.
		if err := db.Exec(`INSERT INTO balances (account_id, asset, available) VALUES (2, 'BTC', 1)
			ON CONFLICT (account_id, asset) DO UPDATE SET available = balances.available + 1`).Error; err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		m, err := Create(context.Background(), r.env, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		report, err := Verify(context.Background(), r.env, m, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		if report.OK() || len(report.Violations) == 0 || len(report.CountDiffs) != 0 {
			t.Fatalf("report %+v, want ledger violations only", report)
		}
	})
}

// Pruning deletes what is past the retention, manifests first, and never
// the newest backup.
func TestPrune(t *testing.T) {
	r := newRig(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	put := func(key string) {
		if _, err := r.env.Store.client.PutObject(context.Background(), putInput(key)); err != nil {
			t.Fatal(err)
		}
	}
	dir := "backups/test/exchange/"
	old := []string{"20260401T020000Z", "20260415T020000Z"}
	recent := []string{"20260520T020000Z", "20260531T020000Z"}
	for _, ts := range append(old, recent...) {
		put(dir + ts + ".dump")
		put(dir + ts + ".manifest.json")
	}
	put(dir + "20260402T020000Z.dump") // a failed run's dump without manifest
	put("backups/test/other/20260101T020000Z.dump")
	deleted, err := Prune(context.Background(), r.env, "exchange", 30*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		dir + "20260401T020000Z.manifest.json", dir + "20260415T020000Z.manifest.json",
		dir + "20260401T020000Z.dump", dir + "20260402T020000Z.dump", dir + "20260415T020000Z.dump",
	}
	if strings.Join(deleted, " ") != strings.Join(want, " ") {
		t.Fatalf("deleted %v\nwant %v", deleted, want)
	}
	if got := len(r.keys()); got != 5 {
		t.Fatalf("%d objects left, want the 4 recent ones and the other database's", got)
	}

	// Everything is old: the newest backup survives anyway.
	deleted, err = Prune(context.Background(), r.env, "exchange", 30*24*time.Hour, now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 || strings.Contains(strings.Join(deleted, " "), "20260531") {
		t.Fatalf("deleted %v; the newest backup must stay", deleted)
	}
}

func TestManifestRejectsForeignJSON(t *testing.T) {
	r := newRig(t)
	key := "backups/test/exchange/20260101T000000Z.dump"
	body, _ := json.Marshal(map[string]any{"format": 1, "key": "something/else.dump", "sha256": strings.Repeat("0", 64)})
	in := putInput("backups/test/exchange/20260101T000000Z.manifest.json")
	in.Body = strings.NewReader(string(body))
	if _, err := r.env.Store.client.PutObject(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	_, err := r.env.Store.Manifest(context.Background(), key)
	requireContains(t, err, "is not a format-1 manifest of "+key)
	_, err = r.env.Store.Manifest(context.Background(), "backups/test/exchange/20250101T000000Z.dump")
	if !errors.Is(err, ErrNoBackup) {
		t.Fatalf("a dump without manifest: %v, want ErrNoBackup", err)
	}
}
