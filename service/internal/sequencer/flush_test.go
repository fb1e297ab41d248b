package sequencer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crypto-exchange/exchange/service/internal/localpg"
)

// A batch commits without waiting for the log; the flusher's commit, on
// another connection, must flush the log past it before the batch is
// answered. The WAL writer is told to sleep, so only that commit can
// flush: without a write of its own it would commit asynchronously too,
// and the batch would be answered while a crash could still take it.
func TestFlushMakesEarlierCommitsDurable(t *testing.T) {
	ctx := context.Background()
	pg, err := localpg.Start(ctx, localpg.Options{Settings: map[string]string{"wal_writer_delay": "10s"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	if err := pg.Exec(ctx, "postgres",
		"CREATE TABLE sequencer_leader (singleton BOOLEAN PRIMARY KEY DEFAULT true, epoch BIGINT NOT NULL)",
		"INSERT INTO sequencer_leader (epoch) VALUES (1)",
		"CREATE TABLE batches (n INT)"); err != nil {
		t.Fatal(err)
	}
	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(ctx, pg.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		return conn
	}
	lock := connect()
	f := startFlusher(ctx, connect(), 10*time.Second)
	defer f.stop(ctx, func(flushed) {})
	flushedPast := func(lsn string) bool {
		var past bool
		if err := lock.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", lsn).Scan(&past); err != nil {
			t.Fatal(err)
		}
		return past
	}
	for i := range 5 {
		q := &pgx.Batch{}
		q.Queue("BEGIN")
		q.Queue("SET LOCAL synchronous_commit = off")
		q.Queue("INSERT INTO batches VALUES ($1)", i)
		q.Queue("COMMIT")
		if err := lock.SendBatch(ctx, q).Close(); err != nil {
			t.Fatal(err)
		}
		var committed string
		if err := lock.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&committed); err != nil {
			t.Fatal(err)
		}
		if flushedPast(committed) {
			t.Fatalf("batch %d: the log was flushed without the flusher; the test proves nothing", i)
		}
		s := &stage{id: "t." + strconv.Itoa(i)}
		s.encode(Events{Time: time.Now()})
		f.in <- s
		if r := <-f.out; r.err != nil {
			t.Fatal(r.err)
		}
		if !flushedPast(committed) {
			t.Fatalf("batch %d: the flusher committed, but the log is not flushed past the batch (%s)", i, committed)
		}
	}
}

// A committed batch whose events could not be encoded is not published:
// the flush fails, which answers its commands ErrUnavailable and ends the
// leadership (no other replica may miss the batch unannounced).
func TestFlushFailsABatchWhoseEventsCouldNotBeEncoded(t *testing.T) {
	s := &stage{id: "t.1", encoded: make(chan struct{}), noticesErr: errors.New("cannot encode")}
	close(s.encoded)
	f := &flusher{timeout: time.Second} // no connection: the flush must fail before using one
	if err := f.flush(context.Background(), []*stage{s}); err == nil || !strings.Contains(err.Error(), "cannot encode") {
		t.Fatalf("flush = %v, want the encoding error", err)
	}
}
