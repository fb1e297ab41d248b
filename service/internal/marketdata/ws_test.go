package marketdata

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// writeCounter counts the writes that reach the socket.
type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// Messages queued for a client go out many to a system call, and arrive
// whole and in order, small or larger than a batch.
func TestQueuedMessagesShareWrites(t *testing.T) {
	var msgs [][]byte
	for i := range 600 {
		size := 40
		switch i % 100 {
		case 7:
			size = 5 << 10 // beyond the library's write buffer
		case 50:
			size = 40 << 10 // beyond a batch of writes
		}
		msgs = append(msgs, fmt.Appendf(nil, "%04d %s", i, strings.Repeat("x", size)))
	}
	var writes atomic.Int64
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &holdable{ResponseWriter: w}
		conn, err := websocket.Accept(hw, r, nil)
		if err != nil {
			done <- err
			return
		}
		hw.conn.Conn = writeCounter{Conn: hw.conn.Conn, n: &writes}
		queue := make(chan []byte, len(msgs))
		for _, m := range msgs {
			queue <- m
		}
		for len(queue) > 0 {
			write := func(m []byte) error { return conn.Write(r.Context(), websocket.MessageText, m) }
			if err := hw.conn.Drain(<-queue, queue, write); err != nil {
				done <- err
				return
			}
		}
		done <- nil
		_, _, _ = conn.Read(context.Background()) // until the client closes
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for i, want := range msgs {
		_, got, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %.20q (%d bytes), want %.20q (%d bytes)", i, got, len(got), want, len(want))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n > int64(len(msgs))/10 {
		t.Fatalf("%d messages took %d writes; queued ones should share them", len(msgs), n)
	}
	t.Logf("%d messages in %d writes", len(msgs), writes.Load())
}
