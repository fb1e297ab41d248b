package httpserver

import (
	"net"
	"net/http"
	"sync"
)

// unusedConns closes, when its server shuts down, the connections that
// never sent a request. net/http's Shutdown counts such a connection as
// active until it is 5 s old (Go issue 22682), so one that a client opened
// and kept spare (its transport dials a connection per request and pools
// the one it did not need) held the drain, and the sequencer's hand-over
// behind it, for 5 s. Closing it at once loses nothing: a request that
// arrives on it once Shutdown has begun is dropped unanswered by net/http
// itself (conn.serve returns when the server is shutting down), and, as
// with the idle keep-alive connections Shutdown closes, a client that
// picks it at that instant sees it closed and retries.
type unusedConns struct {
	mu    sync.Mutex
	fresh map[net.Conn]struct{}
}

// track wires srv: its connection states, and the close at shutdown
// (which runs after Shutdown has closed the listeners, so no new
// connection arrives behind it).
func (u *unusedConns) track(srv *http.Server) {
	u.fresh = map[net.Conn]struct{}{}
	srv.ConnState = u.state
	srv.RegisterOnShutdown(u.closeAll)
}

func (u *unusedConns) state(c net.Conn, s http.ConnState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s == http.StateNew {
		u.fresh[c] = struct{}{}
	} else {
		delete(u.fresh, c)
	}
}

func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.fresh {
		_ = c.Close()
		delete(u.fresh, c)
	}
}
