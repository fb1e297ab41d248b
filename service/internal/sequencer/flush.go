package sequencer

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxUnflushed bounds the batches committed but not yet known durable.
// With two, a batch commits while the one before it is flushed, and what
// arrives after that waits to make the next batch larger rather than go
// out as another small one. One, as round four left it, kept the lock's
// connection idle for every flush: against it, the same saturated rates
// and a lower p99 at 5,000 orders/s offered, for 5–13 % more CPU per
// order in smaller batches; eight cost 7–10 % more PostgreSQL CPU per
// order than one (docs/performance.md, rounds four and six).
const maxUnflushed = 2

// flusher makes committed batches durable off the lock's connection.
//
// The lock's connection commits each batch without waiting for the
// write-ahead log to reach disk (synchronous_commit off for that
// transaction) and goes straight on to the next batch. The flusher then
// commits a small transaction of its own on a second connection, with
// the server's usual synchronous commit. The log is flushed in order, so
// once that commit returns, every batch committed before it began is as
// durable as if it had waited itself: only then are the batches answered
// and their events published (the NOTIFYs are sent in the flusher's
// transaction, so no feed sees what a crash could take back). Before,
// the lock's connection sat idle for every flush: with the flushes
// overlapped, see "Round four" in docs/performance.md.
//
// Batches handed over while a flush is under way share the next one.
type flusher struct {
	conn    *pgx.Conn
	timeout time.Duration
	// in takes committed batches in commit order; out gives them back, in
	// groups, once flushed, or with the error that left their fate
	// unknown. Each holds maxUnflushed, and while leading the loop never
	// has more outstanding, so neither side blocks the other; at the end,
	// stop drains out while the last batch is handed over.
	in  chan *stage
	out chan flushed
}

type flushed struct {
	stages []*stage
	err    error
}

func startFlusher(ctx context.Context, conn *pgx.Conn, timeout time.Duration) *flusher {
	f := &flusher{conn: conn, timeout: timeout, in: make(chan *stage, maxUnflushed), out: make(chan flushed, maxUnflushed)}
	go f.run(context.WithoutCancel(ctx))
	return f
}

// run flushes until in is closed and empty, then closes out.
func (f *flusher) run(ctx context.Context) {
	defer close(f.out)
	for first := range f.in {
		group := []*stage{first}
	more:
		for {
			select {
			case s, ok := <-f.in:
				if !ok {
					break more
				}
				group = append(group, s)
			default:
				break more
			}
		}
		f.out <- flushed{group, f.flush(ctx, group)}
	}
}

// flush commits, synchronously, a transaction that carries the group's
// notifications and writes to the log: one that writes nothing commits
// without a flush. Rewriting the leader's row unchanged writes a new row
// version, which is logged; the row exists from the moment a leader
// leads, and no other writer touches it while it does.
func (f *flusher) flush(ctx context.Context, group []*stage) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	q.Queue("UPDATE sequencer_leader SET epoch = epoch")
	for _, s := range group {
		notices, err := s.payloads()
		if err != nil {
			// Committed, but its events cannot be published: like a flush
			// that failed, it ends the leadership, and the successor
			// rebuilds from the database.
			return err
		}
		for _, n := range notices {
			q.Queue("SELECT pg_notify($1, $2)", EventsChannel, n)
		}
	}
	q.Queue("COMMIT")
	if err := f.conn.SendBatch(ctx, q).Close(); err != nil {
		rollback(ctx, f.conn)
		return fmt.Errorf("flush batches: %w", err)
	}
	return nil
}

// stop lets the flusher finish what it was given, hands every outcome to
// each, and closes its connection.
func (f *flusher) stop(ctx context.Context, each func(flushed)) {
	close(f.in)
	for r := range f.out {
		each(r)
	}
	f.conn.Close(context.WithoutCancel(ctx))
}
