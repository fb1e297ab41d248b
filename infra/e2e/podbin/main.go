// Command podbin is the program of the end-to-end test's smoke pods on the
// real node (infra/e2e/node_test.go), packed into a one-file image by
// scripts/e2e/node-image.sh:
//
//	podbin serve        HTTP on $PORT (default 8080): /readyz (the readiness
//	                    probe), / answers "hello from <hostname>"; logs every
//	                    request with its client and User-Agent
//	podbin get <url>    resolves the URL's host (cluster DNS), GETs it until it
//	                    answers 200 or 60 s pass, prints what it got
//	podbin try <url> <timeout>
//	                    one GET, no retry: exit 0 if it answers 200 within the
//	                    timeout, else 1 and why (the NetworkPolicy test's probe)
//
// Only the standard library, built static (CGO_ENABLED=0), so the image
// needs no base and Go's own resolver reads the kubelet's resolv.conf.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetOutput(os.Stdout)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: podbin serve | podbin get <url> | podbin try <url> <timeout>")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve()
	case "get":
		if len(os.Args) != 3 {
			err = errors.New("usage: podbin get <url>")
			break
		}
		err = get(os.Args[2])
	case "try":
		if len(os.Args) != 4 {
			err = errors.New("usage: podbin try <url> <timeout>")
			break
		}
		err = try(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func serve() error {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("readyz from %s user-agent %q", r.RemoteAddr, r.UserAgent())
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s from %s user-agent %q", r.Method, r.URL.Path, r.RemoteAddr, r.UserAgent())
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("serving on :%s as %s", port, host)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Printf("SIGTERM: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func get(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err = getOnce(client, u)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		log.Printf("retrying: %v", err)
		time.Sleep(time.Second)
	}
}

func try(raw, timeout string) error {
	d, err := time.ParseDuration(timeout)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d}).Get(raw)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", raw, resp.Status)
	}
	log.Printf("GET %s: %s", raw, resp.Status)
	return nil
}

func getOnce(client *http.Client, u *url.URL) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, u.Hostname())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", u.Hostname(), err)
	}
	log.Printf("resolved %s to %v", u.Hostname(), addrs)
	resp, err := client.Get(u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	log.Printf("GET %s: %s: %s", u, resp.Status, body)
	return nil
}
