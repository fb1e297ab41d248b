package web_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// outage is a TCP proxy in front of the exchange that a test can cut, as
// a network outage would: cut closes every connection through it (the
// page's WebSocket among them) and refuses new ones until restore. A tab
// that should lose its connection opens the site through it.
type outage struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newOutage(t *testing.T, baseURL string) *outage {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &outage{t: t, ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); o.cut() })
	go o.serve()
	return o
}

// URL is the site's address through the proxy.
func (o *outage) URL() string { return "http://" + o.ln.Addr().String() }

func (o *outage) serve() {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.mu.Lock()
		down := o.down
		if !down {
			o.conns[c] = struct{}{}
		}
		o.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go o.pipe(c)
	}
}

func (o *outage) pipe(c net.Conn) {
	defer o.forget(c)
	up, err := net.Dial("tcp", o.target)
	if err != nil {
		return
	}
	o.mu.Lock()
	o.conns[up] = struct{}{}
	o.mu.Unlock()
	defer o.forget(up)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (o *outage) forget(c net.Conn) {
	c.Close()
	o.mu.Lock()
	delete(o.conns, c)
	o.mu.Unlock()
}

// cut drops every connection and refuses new ones.
func (o *outage) cut() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = true
	for c := range o.conns {
		c.Close()
	}
}

func (o *outage) restore() {
	o.mu.Lock()
	o.down = false
	o.mu.Unlock()
}
