package loadgen

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
)

// The load generator's own connection must send what net/http's client
// sent: a request the exchange's signature check accepts, on one
// connection for as long as the server keeps it, read whole whether the
// answer has a length or comes in chunks.
func TestHTTPConnSendsSignedRequestsOnOneConnection(t *testing.T) {
	var conns atomic.Int32
	var hang atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			<-release
			return
		}
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("EX-TIMESTAMP")
		want := hex.EncodeToString(auth.Sign("s3cret", ts, r.Method, r.URL.RequestURI(), body))
		if r.Header.Get("EX-KEY") != "key-1" || r.Header.Get("EX-SIGNATURE") != want || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Has("close") {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusCreated)
		if r.URL.Query().Has("chunked") {
			w.Write([]byte(r.Method + " "))
			w.(http.Flusher).Flush() // no length known: the answer goes in chunks
		}
		w.Write(append([]byte(r.Method+" "), body...))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	defer close(release) // before the server's Close, which waits for its handlers

	ctx, cancel := context.WithCancel(context.Background())
	base, err := parseBase(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &httpConn{ctx: ctx, base: base}
	defer c.close()
	tr := &trader{key: "key-1", secret: "s3cret"}
	for _, call := range []struct {
		method, path, body, want string
		conns                    int32
	}{
		{http.MethodPost, "/api/v1/orders?n=1", `{"side":"buy"}`, `POST {"side":"buy"}`, 1},
		{http.MethodDelete, "/api/v1/orders/7?n=2", ``, `DELETE `, 1},
		{http.MethodPost, "/api/v1/orders?n=3&chunked", `{}`, `POST POST {}`, 1},
		{http.MethodPost, "/api/v1/orders?n=4&close", `{}`, `POST {}`, 1},
		{http.MethodPost, "/api/v1/orders?n=5", strings.Repeat("x", 40<<10), `POST ` + strings.Repeat("x", 40<<10), 2},
	} {
		status, body, err := c.do(tr, call.method, call.path, []byte(call.body))
		if err != nil || status != http.StatusCreated || string(body) != call.want {
			t.Fatalf("%s %s: %d %.80q %v, want 201 %.80q", call.method, call.path, status, body, err, call.want)
		}
		if got := conns.Load(); got != call.conns {
			t.Errorf("%s %s: %d connections, want %d", call.method, call.path, got, call.conns)
		}
	}

	// The run's end unblocks a request waiting for its answer.
	hang.Store(true)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, _, err := c.do(tr, http.MethodPost, "/api/v1/orders?n=6", []byte(`{}`)); err == nil {
		t.Error("a request cut by the run's end succeeded")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the run's end took %s to unblock a request", waited)
	}
}
