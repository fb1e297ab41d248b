package loadgen

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/crypto-exchange/exchange/service/internal/auth"
	"github.com/crypto-exchange/exchange/service/internal/coalesce"
)

// orderSocket is one trader's authenticated WebSocket for order entry.
// Commands go out tagged with ids; their answers come back in the order
// they complete. One writer sends the commands that callers queue, those
// queued together in one system call, as a market maker's gateway would.
type orderSocket struct {
	conn *websocket.Conn
	held *coalesce.Conn
	out  chan []byte
	done chan struct{} // closed when the socket has ended

	mu      sync.Mutex
	next    int64
	waiting map[string]chan answer
	err     error // why the socket ended, once it has
}

var errSocketClosed = errors.New("order socket closed")

// dialOrders opens an order-entry socket with the trader's API key: the
// upgrade request is signed like any other.
func dialOrders(ctx context.Context, base string, t *trader) (*orderSocket, error) {
	const path = "/api/v1/ws"
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := http.Header{}
	h.Set("EX-KEY", t.key)
	h.Set("EX-TIMESTAMP", ts)
	h.Set("EX-SIGNATURE", hex.EncodeToString(auth.Sign(t.secret, ts, http.MethodGet, path, nil)))
	var held *coalesce.Conn
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		held = &coalesce.Conn{Conn: nc}
		return held, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, strings.Replace(base, "http", "ws", 1)+path, &websocket.DialOptions{
		HTTPHeader: h,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dial}},
	})
	if err != nil {
		return nil, fmt.Errorf("order socket: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	s := &orderSocket{conn: conn, held: held, out: make(chan []byte, 1024), done: make(chan struct{}), waiting: map[string]chan answer{}}
	go s.read(context.WithoutCancel(ctx))
	go s.write(context.WithoutCancel(ctx))
	return s, nil
}

// write sends the queued commands until the socket ends. A failed write
// closes the socket, which ends read and fails every waiting call.
func (s *orderSocket) write(ctx context.Context) {
	send := func(m []byte) error { return s.conn.Write(ctx, websocket.MessageText, m) }
	for {
		select {
		case msg := <-s.out:
			if len(s.out) == 0 {
				runtime.Gosched() // let the other callers queue theirs (coalesce.Drain)
			}
			if err := s.held.Drain(msg, s.out, send); err != nil {
				s.conn.CloseNow()
				return
			}
		case <-s.done:
			return
		}
	}
}

func (s *orderSocket) read(ctx context.Context) {
	for {
		_, msg, err := s.conn.Read(ctx)
		if err != nil {
			s.mu.Lock()
			s.err = err
			for id, ch := range s.waiting {
				close(ch)
				delete(s.waiting, id)
			}
			s.mu.Unlock()
			close(s.done)
			return
		}
		var res struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			answer
		}
		if jsonv2.Unmarshal(msg, &res) != nil {
			// Type and id come first: an answer unreadable after them
			// still ends its call.
			res.answer = answer{Error: &errorBody{Code: ErrUnreadable}}
		}
		if res.Type != "result" {
			continue
		}
		s.mu.Lock()
		ch := s.waiting[res.ID]
		delete(s.waiting, res.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- res.answer
		}
	}
}

// call sends one command and waits for its answer.
func (s *orderSocket) call(ctx context.Context, cmd socketCommand) (answer, error) {
	ch := make(chan answer, 1)
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return answer{}, errSocketClosed
	}
	s.next++
	id := strconv.FormatInt(s.next, 10)
	s.waiting[id] = ch
	s.mu.Unlock()
	msg := append(append(append([]byte(`{"op":"`+cmd.op+`","id":"`), id...), '"'), cmd.rest...)
	select {
	case s.out <- append(msg, '}'):
	case <-s.done:
		return answer{}, errSocketClosed
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiting, id)
		s.mu.Unlock()
		return answer{}, ctx.Err()
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return answer{}, errSocketClosed
		}
		return a, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.waiting, id)
		s.mu.Unlock()
		return answer{}, ctx.Err()
	}
}

// socketCommand is a command for the order socket: its op, and its other
// members as JSON text after a comma, the id left for call to number.
type socketCommand struct {
	op   string
	rest []byte
}

// command turns a REST order call, as nextRequest makes it, into the
// socket's command for the same thing, reusing the body's bytes.
func command(method, path string, body []byte) socketCommand {
	switch {
	case method == http.MethodDelete:
		return socketCommand{"cancel", []byte(`,"order_id":"` + strings.TrimPrefix(path, "/api/v1/orders/") + `"`)}
	case strings.HasSuffix(path, "/batch"):
		// {"orders":[...]}: its one member joins the command's.
		return socketCommand{"place_batch", append([]byte{','}, body[1:len(body)-1]...)}
	}
	return socketCommand{"place", append([]byte(`,"order":`), body...)}
}

func (s *orderSocket) close() { s.conn.Close(websocket.StatusNormalClosure, "") }
