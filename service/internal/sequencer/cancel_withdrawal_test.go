package sequencer_test

import (
	"context"
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// A withdrawal its owner cancelled leaves the day's count, also for a
// sequencer rebuilt from the database after a restart; nobody else can
// cancel it.
func TestCancelledWithdrawalLeavesTheDailyLimitAcrossRestarts(t *testing.T) {
	f := newFixture(t, 2)
	ctx := context.Background()
	withdraw := sequencer.Command{Withdraw: &sequencer.Withdraw{UserID: f.users[0], AccountID: f.accounts[0], Asset: "BTC",
		Amount: money.MustParse("10"), Address: "bc1qexampleaddress"}} // BTC's whole daily limit
	seq, stop := f.startStoppable(t)
	res, err := seq.Submit(ctx, withdraw)
	if err != nil || res.Error != nil {
		t.Fatal(err, res.Error)
	}
	id := res.Withdrawal.ID
	res, err = seq.Submit(ctx, sequencer.Command{CancelWithdrawal: &sequencer.CancelWithdrawal{UserID: f.users[1], WithdrawalID: id}})
	if err != nil || res.Error == nil || res.Error.Code != apierr.NotFound {
		t.Fatalf("another user's cancel: %+v %v", res, err)
	}
	res, err = seq.Submit(ctx, sequencer.Command{CancelWithdrawal: &sequencer.CancelWithdrawal{UserID: f.users[0], WithdrawalID: id}})
	if err != nil || res.Error != nil || res.Withdrawal.Status != transfers.WithdrawalCancelled {
		t.Fatalf("the owner's cancel: %+v %v", res, err)
	}
	stop()

	seq = f.start(t)
	if res, err = seq.Submit(ctx, withdraw); err != nil || res.Error != nil {
		t.Fatalf("after a restart the cancelled 10 BTC still count against the day: %+v %v", res.Error, err)
	}
	f.checkLedger(t)
}
