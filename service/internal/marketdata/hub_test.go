package marketdata

import (
	"github.com/crypto-exchange/exchange/service/internal/auth"
	"testing"
)

// A client that does not read is dropped once its buffer is full; the
// others keep receiving every message, and publishing never blocks.
func TestSlowClientIsDroppedOthersUnaffected(t *testing.T) {
	h := NewHub(nil)
	slow, fast := h.NewClient(Access{}), h.NewClient(Access{})
	h.subscribe(slow, "trades:BTC-USDT")
	h.subscribe(fast, "trades:BTC-USDT")
	received := 0
	for i := 0; i < ClientBuffer*3; i++ {
		h.publish("trades:BTC-USDT", []byte("{}"))
		select {
		case <-fast.Outbox():
			received++
		default:
			t.Fatalf("message %d did not reach the fast client", i)
		}
	}
	if received != ClientBuffer*3 {
		t.Fatalf("fast client got %d of %d", received, ClientBuffer*3)
	}
	select {
	case <-slow.Dropped:
	default:
		t.Fatal("the slow client was not dropped")
	}
	select {
	case <-fast.Dropped:
		t.Fatal("the fast client was dropped")
	default:
	}
	h.Remove(slow)
	h.Remove(fast)
	if len(h.channels) != 0 {
		t.Fatalf("channels left after removal: %v", h.channels)
	}
}

func TestPrivateChannelsRouteByUser(t *testing.T) {
	h := NewHub(nil)
	alice, bob := h.NewClient(Access{Credential: auth.Credential{UserID: 1}, AccountID: 101}), h.NewClient(Access{Credential: auth.Credential{UserID: 2}, AccountID: 102})
	for _, c := range []*Client{alice, bob} {
		h.subscribe(c, "orders")
		h.subscribe(c, "balances")
	}
	h.publishUser(1, []byte("a"))
	h.publishAccount(102, []byte("b"))
	if got := string(<-alice.Outbox()); got != "a" {
		t.Fatalf("alice got %q", got)
	}
	if got := string(<-bob.Outbox()); got != "b" {
		t.Fatalf("bob got %q", got)
	}
	select {
	case m := <-alice.Outbox():
		t.Fatalf("alice got bob's message %q", m)
	case m := <-bob.Outbox():
		t.Fatalf("bob got alice's message %q", m)
	default:
	}
}
