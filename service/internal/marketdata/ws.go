package marketdata

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/crypto-exchange/exchange/service/internal/coalesce"
)

// WebSocket limits.
const (
	MaxSubscriptions = 20
	pingEvery        = 20 * time.Second
	pongWait         = 10 * time.Second
	maxInbound       = 4 << 10
	// MaxInFlight bounds the commands one connection has running at once;
	// beyond it the connection is not read until one finishes.
	MaxInFlight = 128
)

// Commands answers the messages of a connection that are neither
// subscribe nor unsubscribe: order entry. One value serves one
// connection. Handle runs on a goroutine of its own, up to MaxInFlight at
// once, and returns the reply to send; id is the message's "id" member as
// it was sent (any JSON value, or nil), so that the message is read
// leniently only once. Closed is called once, after the connection ended
// and every Handle returned.
type Commands interface {
	Handle(ctx context.Context, op string, id json.RawMessage, msg []byte) []byte
	Closed()
}

type request struct {
	Op       string          `json:"op"`
	ID       json.RawMessage `json:"id"`
	Channels []string        `json:"channels"`
}

type reply struct {
	Type     string   `json:"type"` // subscribed | unsubscribed | error
	Channels []string `json:"channels,omitempty"`
	Code     string   `json:"code,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// ServeWS runs one WebSocket connection until it closes, or until the
// credential it was opened with stops granting access (logout, key
// revoked, password changed, user frozen, session expired): then it is
// closed with 1008 and the reason. The browser's Origin must match the
// Host (the library's default), so another site cannot open a socket with
// a user's cookie.
// allow is asked before each subscribe or unsubscribe is handled; it
// bounds how fast a connection may change them. cmds, if not nil, answers
// every other op (order entry, which is charged by budgets of its own).
func (f *Feed) ServeWS(w http.ResponseWriter, r *http.Request, a Access, allow func() error, cmds Commands) error {
	// The server's read and write deadlines for ordinary requests would
	// otherwise outlive the upgrade and cut the socket.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	hw := &holdable{ResponseWriter: w}
	conn, err := websocket.Accept(hw, r, nil)
	if err != nil {
		return err
	}
	conn.SetReadLimit(maxInbound)
	c := f.hub.NewClient(a)
	defer f.hub.Remove(c)
	if a.UserID != 0 {
		// A revocation announced between the upgrade's authentication and
		// the registration just above found no stream to close: ask once
		// more, now that any later one will find it.
		f.recheck(r.Context(), []*Client{c})
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	slots := make(chan struct{}, MaxInFlight) // the commands running
	go func() {
		f.writeLoop(ctx, conn, hw.conn, c, slots)
		cancel()
	}()
	var running sync.WaitGroup
	if cmds != nil {
		defer func() {
			// A command still running when the socket closed may yet
			// place an order: cancel-on-disconnect must come after it.
			running.Wait()
			cmds.Closed()
		}()
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return nil
		}
		var req request
		if err := json.Unmarshal(data, &req); err == nil && cmds != nil && req.Op != "subscribe" && req.Op != "unsubscribe" {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			if c.revoked.Load() {
				// Access ended: the socket is closing, and nothing more
				// it sends is acted on.
				<-slots
				continue
			}
			running.Go(func() {
				defer func() { <-slots }()
				// The command outlives a socket that closes under it, so
				// that its answer is the outcome it really had.
				f.hub.deliver(c, cmds.Handle(context.WithoutCancel(ctx), req.Op, req.ID, data))
			})
			continue
		}
		if err != nil {
			if err := allow(); err != nil {
				f.hub.deliver(c, encode(reply{Type: "error", Code: "too_many_requests", Message: err.Error()}))
				continue
			}
			f.hub.deliver(c, encode(reply{Type: "error", Code: "invalid_json", Message: "send {\"op\":\"subscribe\",\"channels\":[...]}"}))
			continue
		}
		f.handle(c, req, allow)
	}
}

// writeLoop sends the client's outbox and keeps the connection alive. A
// client the hub dropped (its outbox overflowed) or that stops answering
// pings is disconnected; closing the connection also unblocks a write
// stuck on a client that stopped reading.
func (f *Feed) writeLoop(ctx context.Context, conn *websocket.Conn, held *coalesce.Conn, c *Client, commands <-chan struct{}) {
	go func() {
		select {
		case <-c.Dropped:
			conn.Close(websocket.StatusPolicyViolation, "too slow: messages were not read in time; reconnect and resubscribe")
		case <-c.Revoked:
			// The close handshake ends the read loop, which ends the
			// writer: nothing else closes the socket first.
			conn.Close(websocket.StatusPolicyViolation, "access ended (logged out, key revoked, password changed or account frozen); authenticate again")
		case <-ctx.Done():
		}
	}()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.Dropped:
			return
		case msg := <-c.send:
			if len(c.send) == 0 && len(commands) > 1 {
				// Other commands' answers are on their way: let their
				// goroutines run first and queue them (coalesce.Drain).
				runtime.Gosched()
			}
			// Messages queued behind this one go in the same system
			// call. No per-message timer: a stuck write ends when the hub
			// drops the client and the connection closes under it.
			err := held.Drain(msg, c.send, func(m []byte) error { return conn.Write(ctx, websocket.MessageText, m) })
			if err != nil {
				conn.CloseNow()
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pongWait)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				conn.Close(websocket.StatusGoingAway, "no pong")
				return
			}
		}
	}
}

// holdable hands the WebSocket library a connection that the write loop
// can hold while it writes the messages already queued.
type holdable struct {
	http.ResponseWriter
	conn *coalesce.Conn
}

func (w *holdable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		return nil, nil, err
	}
	w.conn = &coalesce.Conn{Conn: nc}
	brw.Writer.Reset(w.conn)
	return w.conn, brw, nil
}

// handle applies one subscribe or unsubscribe request. Each channel in it
// spends the connection's message budget: one message naming a channel
// two hundred times costs what two hundred messages would.
func (f *Feed) handle(c *Client, req request, allow func() error) {
	if req.Op != "subscribe" && req.Op != "unsubscribe" {
		if err := allow(); err != nil {
			f.hub.deliver(c, encode(reply{Type: "error", Code: "too_many_requests", Message: err.Error()}))
			return
		}
		f.hub.deliver(c, encode(reply{Type: "error", Code: "invalid_op", Message: "op must be subscribe or unsubscribe; order entry (place, cancel, cancel_all) needs an authenticated connection"}))
		return
	}
	if len(req.Channels) == 0 {
		f.hub.deliver(c, encode(reply{Type: "error", Code: "invalid_request", Message: "channels must name at least one channel"}))
		return
	}
	if len(req.Channels) > MaxSubscriptions {
		f.hub.deliver(c, encode(reply{Type: "error", Code: "too_many_subscriptions", Message: "at most 20 channels per message"}))
		return
	}
	var ok []string
	seen := map[string]bool{}
	for _, ch := range req.Channels {
		if seen[ch] {
			continue
		}
		seen[ch] = true
		if err := allow(); err != nil {
			f.hub.deliver(c, encode(reply{Type: "error", Code: "too_many_requests", Message: err.Error()}))
			break
		}
		if err := f.checkChannel(c, ch); err != nil {
			f.hub.deliver(c, encode(reply{Type: "error", Code: err.code, Message: err.msg}))
			continue
		}
		if req.Op == "unsubscribe" {
			f.hub.unsubscribe(c, ch)
		} else if !f.subscribe(c, ch) {
			f.hub.deliver(c, encode(reply{Type: "error", Code: "too_many_subscriptions", Message: "at most 20 channels per connection"}))
			continue
		}
		ok = append(ok, ch)
	}
	if len(ok) > 0 {
		f.hub.deliver(c, encode(reply{Type: req.Op + "d", Channels: ok}))
	}
}

type channelError struct{ code, msg string }

func (f *Feed) checkChannel(c *Client, ch string) *channelError {
	switch ch {
	case "orders", "balances":
		if c.UserID == 0 {
			return &channelError{"unauthorized", "channel " + ch + " needs an authenticated connection (session cookie or signed API-key upgrade)"}
		}
		return nil
	}
	kind, market, found := strings.Cut(ch, ":")
	f.mu.RLock()
	_, known := f.books[market]
	f.mu.RUnlock()
	if !found || (kind != "book" && kind != "trades" && kind != "ticker") || !known {
		return &channelError{"unknown_channel", "unknown channel " + ch + "; use book:, trades: or ticker: with a market name, or orders / balances"}
	}
	return nil
}

// subscribe registers the client. A book subscription starts with a
// snapshot taken under the feed's lock, so the deltas that follow continue
// it exactly; a ticker subscription starts with the current ticker.
func (f *Feed) subscribe(c *Client, ch string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, added := f.hub.subscribe(c, ch)
	if n > MaxSubscriptions {
		f.hub.unsubscribe(c, ch)
		return false
	}
	if !added {
		return true // already subscribed: the client has its snapshot
	}
	kind, market, _ := strings.Cut(ch, ":")
	switch kind {
	case "book":
		f.hub.deliver(c, f.bookSnapshotMessage(market))
	case "ticker":
		f.hub.deliver(c, encode(tickerMessage{Type: "ticker", Channel: ch, Data: f.tickerLocked(market)}))
	}
	return true
}
