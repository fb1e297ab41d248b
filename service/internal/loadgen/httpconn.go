package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/auth"
)

// httpConn is one worker's keep-alive HTTP/1.1 connection. The load
// generator shares the machine it measures, and net/http's client cost it
// ~95 µs of CPU per single-order request here, most of it outside the two
// system calls a request needs: a reader and a writer goroutine per
// connection with channels and selects between them, header maps, a
// request struct. Every microsecond of that was taken from the exchange.
// A worker has one request in flight at a time, so it writes the request
// and reads the answer (with http.ReadResponse) on its own goroutine.
//
// The connection lives in the context it was made for (a run's): when that
// ends, a request waiting on it returns at once.
type httpConn struct {
	ctx  context.Context
	base *url.URL
	nc   net.Conn
	br   *bufio.Reader
	buf  []byte
	stop func() bool // ends the watch that unblocks nc when ctx ends
}

// parseBase reads the exchange's URL for httpConn.
func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("loadgen: url %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("loadgen: url %q: want http or https", base)
	}
	return u, nil
}

func (c *httpConn) dial() error {
	addr := c.base.Host
	if c.base.Port() == "" {
		addr = net.JoinHostPort(c.base.Hostname(), map[string]string{"http": "80", "https": "443"}[c.base.Scheme])
	}
	dctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	if c.base.Scheme == "https" {
		tc := tls.Client(nc, &tls.Config{ServerName: c.base.Hostname()})
		if err := tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	c.nc, c.br = nc, bufio.NewReaderSize(nc, 16<<10)
	c.stop = context.AfterFunc(c.ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (c *httpConn) close() {
	if c.nc != nil {
		c.stop()
		c.nc.Close()
		c.nc = nil
	}
}

// do sends one signed request and returns the answer's status and body.
// A failed request closes the connection; the next one dials again.
func (c *httpConn) do(t *trader, method, path string, body []byte) (int, []byte, error) {
	if c.nc == nil {
		if err := c.dial(); err != nil {
			return 0, nil, err
		}
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	b := append(c.buf[:0], method...)
	b = append(append(append(b, ' '), strings.TrimSuffix(c.base.Path, "/")...), path...)
	b = append(append(b, " HTTP/1.1\r\nHost: "...), c.base.Host...)
	b = append(append(b, "\r\nContent-Type: application/json\r\nEX-KEY: "...), t.key...)
	b = append(append(b, "\r\nEX-TIMESTAMP: "...), ts...)
	b = hex.AppendEncode(append(b, "\r\nEX-SIGNATURE: "...), auth.Sign(t.secret, ts, method, path, body))
	b = strconv.AppendInt(append(b, "\r\nContent-Length: "...), int64(len(body)), 10)
	b = append(append(b, "\r\n\r\n"...), body...)
	c.buf = b
	if _, err := c.nc.Write(b); err != nil {
		c.close()
		return 0, nil, err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return 0, nil, err
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.Close {
		c.close()
	}
	return res.StatusCode, raw, err
}
