package auth

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// signatureLog remembers request signatures inside the replay window, in
// Postgres so that every replica refuses a signature any replica has seen.
// Concurrent requests are group-committed: while one INSERT is in flight,
// newcomers queue and share the next one, so a busy exchange pays one
// statement per batch rather than per request.
type signatureLog struct {
	db *sql.DB

	mu       sync.Mutex
	pending  []*signatureWait
	flushing bool
}

type signatureWait struct {
	sig     []byte
	expires time.Time
	done    chan signatureResult
}

type signatureResult struct {
	fresh bool
	err   error
}

// record stores sig and reports whether it was new.
func (l *signatureLog) record(ctx context.Context, sig []byte, expires time.Time) (bool, error) {
	w := &signatureWait{sig: sig, expires: expires, done: make(chan signatureResult, 1)}
	l.mu.Lock()
	l.pending = append(l.pending, w)
	if !l.flushing {
		l.flushing = true
		go l.flush()
	}
	l.mu.Unlock()
	select {
	case r := <-w.done:
		return r.fresh, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// flush writes queued signatures until none are left.
func (l *signatureLog) flush() {
	for {
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		if len(batch) == 0 {
			l.flushing = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		fresh, err := l.insert(batch)
		first := map[string]bool{}
		for _, w := range batch {
			// A signature twice in one batch: only its first use counts.
			isNew := fresh[string(w.sig)] && !first[string(w.sig)]
			first[string(w.sig)] = true
			w.done <- signatureResult{fresh: isNew, err: err}
		}
	}
}

func (l *signatureLog) insert(batch []*signatureWait) (map[string]bool, error) {
	sigs := make([][]byte, len(batch))
	expires := make([]time.Time, len(batch))
	for i, w := range batch {
		sigs[i], expires[i] = w.sig, w.expires
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := l.db.QueryContext(ctx, `INSERT INTO api_signatures (signature, expires_at)
		SELECT s, e FROM unnest($1::bytea[], $2::timestamptz[]) AS x(s, e)
		ON CONFLICT DO NOTHING RETURNING signature`, sigs, expires)
	if err != nil {
		return nil, fmt.Errorf("record signatures: %w", err)
	}
	defer rows.Close()
	fresh := map[string]bool{}
	for rows.Next() {
		var s []byte
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("record signatures: %w", err)
		}
		fresh[string(s)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record signatures: %w", err)
	}
	return fresh, nil
}
