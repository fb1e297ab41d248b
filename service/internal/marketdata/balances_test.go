package marketdata

import (
	"context"
	"encoding/json"
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/money"
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
