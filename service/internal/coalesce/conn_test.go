package coalesce

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// counted records each write that reaches the real connection.
type counted struct {
	net.Conn
	writes [][]byte
}

func (c *counted) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return c.Conn.Write(p)
}

func TestHeldWritesGoOutInOneWrite(t *testing.T) {
	client, server := tcpPair(t)
	under := &counted{Conn: server}
	c := &Conn{Conn: under}

	c.Hold()
	for _, p := range []string{"one ", "two ", "three "} {
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("held write: %d, %v", n, err)
		}
	}
	if len(under.writes) != 0 || c.Held() != len("one two three ") {
		t.Fatalf("while held: %d writes reached the connection, %d bytes held", len(under.writes), c.Held())
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("four")); err != nil { // not held: straight through
		t.Fatal(err)
	}
	if got := len(under.writes); got != 2 || string(under.writes[0]) != "one two three " {
		t.Fatalf("writes reaching the connection: %q; want the three held ones as one, then the fourth", under.writes)
	}
	if err := c.Release(); err != nil || len(under.writes) != 2 { // nothing held: nothing sent
		t.Fatalf("an empty release: %v, %d writes", err, len(under.writes))
	}
	got := make([]byte, len("one two three four"))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "one two three four" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestReleaseReportsAFailedWrite(t *testing.T) {
	client, server := tcpPair(t)
	c := &Conn{Conn: server}
	c.Hold()
	_, _ = c.Write(bytes.Repeat([]byte("x"), 100))
	client.Close()
	server.Close()
	if err := c.Release(); err == nil {
		t.Fatal("release on a closed connection reported success")
	}
}

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}
