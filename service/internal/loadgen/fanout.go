package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// subscribers are WebSocket connections that each subscribe to one
// market's trades and time every trade from its commit (committed_at, set
// by the sequencer) to its arrival. Load and exchange share a clock here.
type subscribers struct {
	conns        []*websocket.Conn
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	mu           sync.Mutex
	deliveries   []time.Duration
	disconnected atomic.Int64
}

func subscribe(ctx context.Context, cfg Config) (*subscribers, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &subscribers{cancel: cancel}
	url := strings.Replace(cfg.URL, "http", "ws", 1) + "/api/v1/ws"
	msg := []byte(fmt.Sprintf(`{"op":"subscribe","channels":["trades:%s"]}`, cfg.Market))
	for i := 0; i < cfg.WSSubscribers; i++ {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		c, _, err := websocket.Dial(dctx, url, nil)
		dcancel()
		if err != nil {
			s.close()
			return nil, fmt.Errorf("websocket subscriber %d: %w", i, err)
		}
		c.SetReadLimit(1 << 20)
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			s.close()
			return nil, fmt.Errorf("websocket subscribe %d: %w", i, err)
		}
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		go s.read(ctx, c)
	}
	return s, nil
}

func (s *subscribers) read(ctx context.Context, c *websocket.Conn) {
	defer s.wg.Done()
	var local []time.Duration
	defer func() {
		s.mu.Lock()
		s.deliveries = append(s.deliveries, local...)
		s.mu.Unlock()
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.disconnected.Add(1)
			}
			return
		}
		// Thousands of subscribers share this machine's cores with the
		// exchange: find the timestamp without decoding the message.
		if at, ok := committedAt(data); ok {
			local = append(local, time.Since(at))
		}
	}
}

func (s *subscribers) results() ([]time.Duration, int64) {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.deliveries)
	return s.deliveries, s.disconnected.Load()
}

func (s *subscribers) close() {
	s.cancel()
	for _, c := range s.conns {
		c.CloseNow()
	}
}

var committedKey = []byte(`"committed_at":"`)

func committedAt(msg []byte) (time.Time, bool) {
	i := bytes.Index(msg, committedKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := msg[i+len(committedKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}
