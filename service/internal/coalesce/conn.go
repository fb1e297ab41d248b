// Package coalesce sends many small writes to a connection in one system
// call. The WebSocket library writes and flushes every message on its own:
// a socket with a thousand order commands in flight then costs a write
// system call per answer, and over loopback the whole TCP send and receive
// path each time (13 % of the exchange's CPU and 22 % of the load
// generator's in a profile of one order per command). A writer that knows
// more messages are queued holds the connection, writes them all, and
// releases it: what was written in between goes out in one write.
package coalesce

import (
	"net"
	"sync"
)

// batchBytes is about how much Drain sends in one system call.
const batchBytes = 32 << 10

// maxKept bounds the buffer a Conn keeps between holds; a burst larger
// than this (book snapshots to a slow reader) is let go afterwards.
const maxKept = 64 << 10

// Conn is a net.Conn whose writes can be held and sent together.
type Conn struct {
	net.Conn

	// mu is held across the network write as well, so that a write from
	// another goroutine (the library's pongs and close frames) can never
	// overtake bytes held before it.
	mu   sync.Mutex
	held bool
	buf  []byte
}

// Write sends p, or keeps it while the connection is held. A kept write
// reports success; if sending it fails, Release reports the failure.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// Hold keeps every write until Release.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// Held reports how many bytes wait for Release.
func (c *Conn) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.buf)
}

// Release sends what was kept since Hold in one write and ends the hold.
func (c *Conn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > maxKept {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// Drain writes first and, in the same system call, the messages queued
// behind it, until the queue is empty or about batchBytes are held. write
// sends one message through c (framed by a WebSocket library, say); the
// caller must be the queue's only reader.
//
// Go runs the goroutine woken last first: a writer woken by the first of
// many messages that other goroutines are about to queue (the answers of
// one sequencer batch) would send it alone while they wait to run. Such a
// writer yields (runtime.Gosched) before calling Drain; measured on the
// order socket, 1.26 writes per answer without the yield, about 0.2 with
// it. A writer fed by one goroutine (market data) need not.
func (c *Conn) Drain(first []byte, queue <-chan []byte, write func([]byte) error) error {
	if len(queue) == 0 {
		return write(first)
	}
	c.Hold()
	for msg := first; ; msg = <-queue {
		if err := write(msg); err != nil {
			_ = c.Release()
			return err
		}
		if len(queue) == 0 || c.Held() >= batchBytes {
			return c.Release()
		}
	}
}
