package auth

import (
	"context"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/database"
	"github.com/crypto-exchange/exchange/service/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Signatures that queue while a statement is in flight share the next one.
// A signature sent twice in that statement (a replay racing its original)
// is inserted once and served once; one already recorded is refused.
func TestSignatureTwiceInOneStatementIsServedOnce(t *testing.T) {
	l := &signatureLog{db: database.SQL(pgtest.Open(t))}
	ctx := context.Background()
	expires := time.Now().Add(time.Minute)
	if fresh, err := l.record(ctx, []byte("recorded before"), expires); !fresh || err != nil {
		t.Fatalf("a new signature: fresh %v, %v", fresh, err)
	}
	// As if a statement were in flight: every record below queues.
	l.mu.Lock()
	l.flushing = true
	l.mu.Unlock()
	sigs := []string{"same", "same", "other", "same", "recorded before"}
	results := make(chan bool, len(sigs))
	for _, s := range sigs {
		go func() {
			fresh, err := l.record(ctx, []byte(s), expires)
			if err != nil {
				t.Error(err)
			}
			results <- fresh
		}()
	}
	for queued := 0; queued < len(sigs); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		queued = len(l.pending)
		l.mu.Unlock()
	}
	go l.flush()
	served := 0
	for range sigs {
		if <-results {
			served++
		}
	}
	if served != 2 {
		t.Fatalf("%d of %q served; want 2 (one \"same\", and \"other\")", served, sigs)
	}
}
