package sequencer_test

import (
	"context"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/engine"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// A leader with no snapshot builder refuses a snapshot with a client error
// and carries on; the command travels as JSON between replicas.
func TestSnapshotNeedsABuilder(t *testing.T) {
	f := newFixture(t, 2)
	seq := f.start(t)
	res, err := seq.Submit(context.Background(), sequencer.Command{Snapshot: &sequencer.Snapshot{AdminID: f.users[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Code != apierr.Conflict || res.Snapshot != nil {
		t.Fatalf("snapshot without a builder: %+v", res)
	}
	if res, err := seq.Submit(context.Background(), limit(f, 0, engine.Buy, "30000", "0.001")); err != nil || res.Error != nil {
		t.Fatalf("the next command: %+v %v", res, err)
	}
	f.checkLedger(t)
}
