// Package s3test runs a real S3-compatible server on 127.0.0.1 for the
// backup tests and benchmark: rclone's fork of gofakes3 (pinned in go.mod)
// over its in-memory backend. It was chosen over johannesboyne/gofakes3
// because it verifies AWS Signature V4 for real (a wrong secret is refused
// as S3 refuses it), checks the server-side-encryption headers as S3 does,
// and implements multipart upload, abort and listing of pending uploads.
//
// A test can stop and restart the server on the same address (S3 going
// away), and observe or hold requests with a hook (to act at a precise
// moment of an upload).
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/rclone/gofakes3"
	"github.com/rclone/gofakes3/s3mem"
)

// Region is what clients of the server sign for.
const Region = "us-east-1"

// Server is one running S3-compatible endpoint with one set of credentials.
type Server struct {
	AccessKey string
	SecretKey string

	backend *s3mem.Backend
	handler http.Handler
	addr    string

	mu   sync.Mutex
	srv  *http.Server
	hook func(*http.Request)
}

// Start serves on a free port of 127.0.0.1.
func Start() (*Server, error) {
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	s := &Server{AccessKey: "exchange-test", SecretKey: hex.EncodeToString(secret), backend: s3mem.New()}
	fake := gofakes3.New(s.backend, gofakes3.WithV4Auth(map[string]string{s.AccessKey: s.SecretKey}))
	s.handler = fake.Server()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("s3test: listen: %w", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	return s, nil
}

func (s *Server) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(l)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	s.handler.ServeHTTP(w, r)
}

// URL is the endpoint to give clients (path-style addressing).
func (s *Server) URL() string { return "http://" + s.addr }

// OnRequest sets a function called with every request before it is
// handled (nil removes it). It may block, which holds that request.
func (s *Server) OnRequest(hook func(*http.Request)) {
	s.mu.Lock()
	s.hook = hook
	s.mu.Unlock()
}

// Stop closes the listener and every open connection at once, as a
// crashed or unreachable store would. The stored data survives.
func (s *Server) Stop() error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// Restart serves again on the same address after Stop.
func (s *Server) Restart() error {
	var l net.Listener
	var err error
	// The port can linger briefly after Close; it is ours, so retry.
	for range 50 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			s.serve(l)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("s3test: listen again on %s: %w", s.addr, err)
}

// CreateBucket makes an empty bucket.
func (s *Server) CreateBucket(name string) error {
	return s.backend.CreateBucket(context.Background(), name)
}

// Keys lists every object in the bucket, sorted.
func (s *Server) Keys(bucket string) ([]string, error) {
	list, err := s.backend.ListBucket(context.Background(), bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(list.Contents))
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys)
	return keys, nil
}

// Object returns an object's content and metadata straight from storage.
func (s *Server) Object(bucket, key string) ([]byte, map[string]string, error) {
	obj, err := s.backend.GetObject(context.Background(), bucket, key, nil)
	if err != nil {
		return nil, nil, err
	}
	defer obj.Contents.Close()
	data, err := io.ReadAll(obj.Contents)
	return data, obj.Metadata, err
}

// Replace overwrites an object's content in storage, keeping its metadata:
// the bit rot or tampering a restore must detect.
func (s *Server) Replace(bucket, key string, data []byte) error {
	_, meta, err := s.Object(bucket, key)
	if err != nil {
		return err
	}
	_, err = s.backend.PutObject(context.Background(), bucket, key, meta, bytes.NewReader(data), int64(len(data)))
	return err
}
