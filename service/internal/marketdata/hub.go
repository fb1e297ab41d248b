package marketdata

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/money"
	"github.com/crypto-exchange/exchange/service/internal/orders"
	"github.com/crypto-exchange/exchange/service/internal/sequencer"
)

// Hub fans messages out to subscribed clients. Publishing never waits for
// a client: a client whose buffer is full is dropped, so one slow reader
// can never stall the others or the feed.
type Hub struct {
	mu       sync.RWMutex
	channels map[string]map[*Client]struct{}
	orders   map[int64]map[*Client]struct{} // by user
	balances map[int64]map[*Client]struct{} // by account
	users    map[int64]map[*Client]struct{} // every authenticated client, by user
	metrics  *metrics
}

// Access is who a connection belongs to; the zero value is an anonymous
// connection, which may only use the public channels.
type Access struct {
	auth.Credential
	AccountID int64
	// Expires is when the session lapses unless renewed; zero for a key.
	Expires time.Time
}

// Client is one subscriber connection's outbox.
type Client struct {
	send      chan []byte
	UserID    int64 // 0: not authenticated
	AccountID int64
	access    Access
	expires   atomic.Int64    // unix nanoseconds; 0 for a key
	subs      map[string]bool // guarded by Hub.mu
	dropped   atomic.Bool
	revoked   atomic.Bool
	// Dropped is closed when the hub gives up on the client.
	Dropped chan struct{}
	// Revoked is closed when the credential the connection was opened
	// with stops granting access.
	Revoked    chan struct{}
	revokeOnce sync.Once
}

// revoke stops the client's deliveries at once and has its connection
// closed.
func (c *Client) revoke() {
	c.revokeOnce.Do(func() {
		c.revoked.Store(true)
		close(c.Revoked)
	})
}

// ClientBuffer is how many messages may wait for a slow client.
const ClientBuffer = 512

// NewHub makes a hub and registers its metrics.
func NewHub(reg prometheus.Registerer) *Hub {
	return &Hub{
		channels: map[string]map[*Client]struct{}{},
		orders:   map[int64]map[*Client]struct{}{},
		balances: map[int64]map[*Client]struct{}{},
		users:    map[int64]map[*Client]struct{}{},
		metrics:  newMetrics(reg),
	}
}

// NewClient registers a connection; Remove must follow.
func (h *Hub) NewClient(a Access) *Client {
	h.metrics.connections.Inc()
	c := &Client{send: make(chan []byte, ClientBuffer), UserID: a.UserID, AccountID: a.AccountID, access: a,
		subs: map[string]bool{}, Dropped: make(chan struct{}), Revoked: make(chan struct{})}
	if !a.Expires.IsZero() {
		c.expires.Store(a.Expires.UnixNano())
	}
	if a.UserID != 0 {
		h.mu.Lock()
		addTo(h.users, a.UserID, c)
		h.mu.Unlock()
	}
	return c
}

// Revoke closes the connections that a change of access ends, and returns
// how many it closed.
func (h *Hub) Revoke(change auth.AccessChange) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for c := range h.users[change.UserID] {
		if change.Revokes(c.UserID, c.access.Session, c.access.KeyID) {
			c.revoke()
			n++
		}
	}
	return n
}

// authenticated lists the connections opened with credentials.
func (h *Hub) authenticated() []*Client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []*Client
	for _, set := range h.users {
		for c := range set {
			out = append(out, c)
		}
	}
	return out
}

// Outbox is what the connection's writer sends, in order.
func (c *Client) Outbox() <-chan []byte { return c.send }

// Remove unsubscribes the client from everything.
func (h *Hub) Remove(c *Client) {
	h.mu.Lock()
	for ch := range c.subs {
		h.unsubscribeLocked(c, ch)
	}
	removeFrom(h.users, c.UserID, c)
	h.mu.Unlock()
	h.metrics.connections.Dec()
}

func (h *Hub) unsubscribeLocked(c *Client, channel string) {
	delete(c.subs, channel)
	switch channel {
	case "orders":
		removeFrom(h.orders, c.UserID, c)
	case "balances":
		removeFrom(h.balances, c.AccountID, c)
	default:
		if set := h.channels[channel]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(h.channels, channel)
			}
		}
	}
}

func removeFrom(m map[int64]map[*Client]struct{}, key int64, c *Client) {
	if set := m[key]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

func addTo(m map[int64]map[*Client]struct{}, key int64, c *Client) {
	if m[key] == nil {
		m[key] = map[*Client]struct{}{}
	}
	m[key][c] = struct{}{}
}

// subscribe adds the client to a channel and returns how many it has,
// and whether this one is new.
func (h *Hub) subscribe(c *Client, channel string) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.subs[channel] {
		return len(c.subs), false
	}
	c.subs[channel] = true
	switch channel {
	case "orders":
		addTo(h.orders, c.UserID, c)
	case "balances":
		addTo(h.balances, c.AccountID, c)
	default:
		if h.channels[channel] == nil {
			h.channels[channel] = map[*Client]struct{}{}
		}
		h.channels[channel][c] = struct{}{}
	}
	return len(c.subs), true
}

func (h *Hub) unsubscribe(c *Client, channel string) {
	h.mu.Lock()
	h.unsubscribeLocked(c, channel)
	h.mu.Unlock()
}

// deliver queues msg for c, or drops c if its buffer is full.
func (h *Hub) deliver(c *Client, msg []byte) {
	if c.dropped.Load() || c.revoked.Load() {
		return
	}
	select {
	case c.send <- msg:
	default:
		if c.dropped.CompareAndSwap(false, true) {
			close(c.Dropped)
			h.metrics.dropped.Inc()
		}
	}
}

func (h *Hub) publish(channel string, msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.channels[channel] {
		h.deliver(c, msg)
	}
}

// publishLocked sends each subscriber of channel its own message (a
// snapshot); the caller holds the feed's lock so no delta interleaves.
func (h *Hub) publishLocked(channel string, msg func(*Client) []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.channels[channel] {
		h.deliver(c, msg(c))
	}
}

func (h *Hub) publishUser(userID int64, msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.orders[userID] {
		h.deliver(c, msg)
	}
}

// listensToOrders reports whether any socket follows the user's orders:
// a message nobody receives is not worth encoding.
func (h *Hub) listensToOrders(userID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.orders[userID]) > 0
}

func (h *Hub) publishAccount(accountID int64, msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.balances[accountID] {
		h.deliver(c, msg)
	}
}

func (h *Hub) hasBalanceSubscribers() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.balances) > 0
}

func (h *Hub) balanceAccounts(ids []int64) []int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []int64
	for _, id := range ids {
		if len(h.balances[id]) > 0 {
			out = append(out, id)
		}
	}
	return out
}

func bookChannel(m string) string   { return "book:" + m }
func tradesChannel(m string) string { return "trades:" + m }
func tickerChannel(m string) string { return "ticker:" + m }

// Messages, as the WebSocket sends them.

type bookMessage struct {
	Type     string            `json:"type"` // snapshot | delta
	Channel  string            `json:"channel"`
	Sequence int64             `json:"sequence"`
	Bids     [][2]money.Amount `json:"bids"`
	Asks     [][2]money.Amount `json:"asks"`
}

// TradeJSON is a public trade, as REST and the trades channel show it.
type TradeJSON struct {
	ID        string       `json:"id"`
	Price     money.Amount `json:"price"`
	Quantity  money.Amount `json:"quantity"`
	TakerSide string       `json:"taker_side"`
	Time      time.Time    `json:"time"`
}

func tradeJSON(t sequencer.TradeEvent) TradeJSON {
	return TradeJSON{ID: formatID(t.ID), Price: t.Price, Quantity: t.Quantity, TakerSide: t.TakerSide, Time: t.Time}
}

// tradesMessage carries the trades one batch made in one market, oldest first.
type tradesMessage struct {
	Type    string      `json:"type"`
	Channel string      `json:"channel"`
	Data    []TradeJSON `json:"data"`
	// CommittedAt is when the trades' batch committed, so a client can
	// measure delivery latency.
	CommittedAt time.Time `json:"committed_at"`
}

type tickerMessage struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	Data    Ticker `json:"data"`
}

type orderMessage struct {
	Type    string      `json:"type"`
	Channel string      `json:"channel"`
	Data    orders.JSON `json:"data"`
}

type balancesMessage struct {
	Type    string        `json:"type"`
	Channel string        `json:"channel"`
	Data    []BalanceJSON `json:"data"`
}

// transferMessage tells the balances channel of a deposit's or a
// withdrawal's new state, as GET /api/v1/deposits and /withdrawals show
// it (to its owner: no admin's id): requested, approved once of the two
// approvals, decided.
func transferMessage(t sequencer.TransferEvent) []byte {
	type message struct {
		Type    string `json:"type"` // deposit | withdrawal
		Channel string `json:"channel"`
		Data    any    `json:"data"`
	}
	if t.Deposit != nil {
		return encode(message{Type: "deposit", Channel: "balances", Data: t.Deposit.ForOwner()})
	}
	return encode(message{Type: "withdrawal", Channel: "balances", Data: t.Withdrawal.ForOwner()})
}

// BalanceJSON is one asset's balance.
type BalanceJSON struct {
	Asset     string       `json:"asset"`
	Available money.Amount `json:"available"`
	Held      money.Amount `json:"held"`
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("marketdata: encode message: " + err.Error()) // only our own plain structs are encoded
	}
	return b
}

func levels(l [][2]money.Amount) [][2]money.Amount {
	if l == nil {
		return [][2]money.Amount{}
	}
	return l
}

type metrics struct {
	connections prometheus.Gauge
	dropped     prometheus.Counter
	deliveryLag prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exchange_websocket_connections", Help: "Open WebSocket connections on this replica.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "exchange_websocket_dropped_slow_clients_total", Help: "WebSocket clients dropped because they read too slowly.",
		}),
		deliveryLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "exchange_marketdata_event_lag_seconds", Help: "Time from a batch's commit to this replica applying its events.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.dropped, m.deliveryLag)
	}
	return m
}
