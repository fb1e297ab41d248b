package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A connection that never sent a request must not hold the drain: without
// unusedConns, Shutdown waits until it is 5 s old. A request in flight is
// still answered.
func TestShutdownClosesConnectionsThatNeverAsked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(inHandler)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})}
	u := new(unusedConns)
	u.track(srv)
	go func() { _ = srv.Serve(ln) }()

	spare, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	answered := make(chan error, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "done" {
				err = io.ErrUnexpectedEOF
			}
		}
		answered <- err
	}()
	<-inHandler
	// The spare connection is accepted (StateNew) before the drain starts.
	for deadline := time.Now().Add(5 * time.Second); ; {
		u.mu.Lock()
		n := len(u.fresh)
		u.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections in StateNew, want the spare one", n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %s: the unused connection held it", took)
	}
	if err := <-answered; err != nil {
		t.Errorf("the request in flight: %v", err)
	}
	_ = spare.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := spare.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the spare connection: read %v, want EOF (closed by the server)", err)
	}
}
