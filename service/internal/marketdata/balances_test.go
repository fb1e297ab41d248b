package marketdata

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
	"github.com/crypto-exchange/exchange/service/internal/transfers"
)

// However many balance changes arrive while the pusher is busy, every
// subscribed account gets its current balances: none is lost.
func TestBalanceChangesAreNeverLost(t *testing.T) {
	f, db := testFeed(t)
	const accounts = 1500 // more than the old queue's 1024 slots
	exec(t, db, `INSERT INTO users (email, password_hash) SELECT 'u' || g || '@example.com', 'x' FROM generate_series(1, ?) g`, accounts)
	exec(t, db, `INSERT INTO accounts (kind, user_id) SELECT 'user', id FROM users`)
	// Each account holds as many USDT as its id, so a message shows whose it is.
	exec(t, db, `INSERT INTO balances (account_id, asset, available) SELECT id, 'USDT', id FROM accounts WHERE kind = 'user'`)
	var ids []int64
	if err := db.Raw(`SELECT id FROM accounts WHERE kind = 'user' ORDER BY id`).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	clients := map[int64]*Client{}
	for _, id := range ids {
		c := f.hub.NewClient(Access{Credential: auth.Credential{UserID: id}, AccountID: id})
		f.hub.subscribe(c, "balances")
		clients[id] = c
	}

	// The changes pile up before the pusher runs: it is behind.
	for _, id := range ids {
		f.queueBalances([]int64{id})
	}
	f.queueBalances(ids[:10]) // a repeat is merged, not queued twice
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.pushBalances(ctx)

	deadline := time.After(30 * time.Second)
	for _, id := range ids {
		select {
		case raw := <-clients[id].Outbox():
			var m struct {
				Type string
				Data []BalanceJSON
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.Type != "balances" || len(m.Data) != 1 || m.Data[0].Asset != "USDT" || m.Data[0].Available != money.Amount(id)*money.One {
				t.Fatalf("account %d got %s", id, raw)
			}
		case <-deadline:
			t.Fatalf("account %d never got its balances", id)
		}
	}
	for _, id := range ids[:10] {
		if n := len(clients[id].Outbox()); n != 0 {
			t.Fatalf("account %d got %d more messages for one pending change", id, n)
		}
	}
}

// A deposit's or a withdrawal's new state goes to the balances streams of
// its own account, and to no other: the wallet page learns that an admin
// decided a withdrawal without a reload.
func TestTransfersGoToTheirAccountsBalancesStream(t *testing.T) {
	f, _ := testFeed(t)
	owner := f.hub.NewClient(Access{Credential: auth.Credential{UserID: 7}, AccountID: 70})
	other := f.hub.NewClient(Access{Credential: auth.Credential{UserID: 8}, AccountID: 80})
	f.hub.subscribe(owner, "balances")
	f.hub.subscribe(other, "balances")
	w := &transfers.Withdrawal{ID: 5, UserID: 7, AccountID: 70, Asset: "BTC", Amount: money.One, Address: "addr-0001", Status: transfers.WithdrawalCompleted}
	d := &transfers.Deposit{ID: 6, UserID: 7, AccountID: 70, Asset: "USDT", Amount: 2 * money.One, Status: transfers.DepositPending}
	if err := f.apply(sequencer.Events{Transfers: []sequencer.TransferEvent{{AccountID: 70, Withdrawal: w}, {AccountID: 70, Deposit: d}}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"type":"withdrawal","channel":"balances","data":{"id":"5","user_id":"7","asset":"BTC","amount":"1","address":"addr-0001","status":"completed"`,
		`{"type":"deposit","channel":"balances","data":{"id":"6","user_id":"7","asset":"USDT","amount":"2","status":"pending"`,
	} {
		select {
		case got := <-owner.Outbox():
			if !strings.HasPrefix(string(got), want) {
				t.Fatalf("owner got %s, want %s…", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("owner never got %s…", want)
		}
	}
	if n := len(other.Outbox()); n != 0 {
		t.Fatalf("another account got %d messages of someone else's transfers", n)
	}
}
