package sequencer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// InternalPath is where the leader accepts commands from other replicas.
const InternalPath = "/internal/v1/sequencer/commands"

// TokenHeader carries the shared token that proves a caller is a replica.
const TokenHeader = "X-Exchange-Internal-Token"

// InternalToken derives the replicas' shared token from SECRET_KEY, which
// every replica has and no client does.
func InternalToken(secretKey []byte) string {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("exchange sequencer internal v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// Client sends commands to the sequencer leader, wherever it runs: to the
// local sequencer when this replica leads, otherwise over HTTP to the
// replica that advertises leadership in the database.
type Client struct {
	local *Sequencer
	db    *sql.DB
	http  *http.Client
	token string

	mu       sync.Mutex
	leader   string
	checked  time.Time
	healthy  bool
	healthAt time.Time
}

// NewClient makes a client for this replica.
func NewClient(local *Sequencer, db *sql.DB, secretKey []byte) *Client {
	return &Client{
		local: local, db: db, token: InternalToken(secretKey),
		http: &http.Client{Timeout: 30 * time.Second, Transport: forwardTransport()},
	}
}

// forwardDialTimeout bounds a connection to the advertised leader. A
// leader's pod that has gone (a rolling update) leaves an address on the
// pod network that answers nothing, not even a refusal; without a bound of
// its own the dial would wait for the request's whole deadline (10 s
// stalls seen in the e2e's rollout), where a failed dial is a safe
// ErrNotLeader and a fresh read of the leader. A second is ample within a
// cluster; a dial that loses its first SYN just tries again.
const forwardDialTimeout = time.Second

func forwardTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: forwardDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// Local is this replica's own sequencer.
func (c *Client) Local() *Sequencer { return c.local }

// Submit delivers cmd to the leader, retrying while no leader can have
// applied it (none elected yet, or the one asked has stepped down), until
// ctx ends.
func (c *Client) Submit(ctx context.Context, cmd Command) (Result, error) {
	// Encoded only to forward: on the leader itself the encoding was 7 %
	// of the exchange's CPU per socket order, spent for nothing (profiled).
	var body []byte
	for {
		if c.local.IsLeader() {
			res, err := c.local.Submit(ctx, cmd)
			if !errors.Is(err, ErrNotLeader) {
				return res, err
			}
		} else if addr, err := c.leaderAddress(ctx); err == nil && addr != c.local.Advertise() {
			if body == nil {
				if body, err = json.Marshal(cmd); err != nil {
					return Result{}, fmt.Errorf("encode command: %w", err)
				}
			}
			res, err := c.forward(ctx, addr, body)
			if !errors.Is(err, ErrNotLeader) {
				return res, err
			}
		}
		c.forget()
		select {
		case <-ctx.Done():
			return Result{}, ErrUnavailable
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SubmitAll delivers cmds as Submit delivers each. On the leader they are
// queued together from this goroutine (Sequencer.SubmitAll); elsewhere
// each is forwarded on its own, all at once.
func (c *Client) SubmitAll(ctx context.Context, cmds []Command) []Answer {
	if c.local.IsLeader() {
		out := c.local.SubmitAll(ctx, cmds)
		for i := range out {
			if errors.Is(out[i].Err, ErrNotLeader) {
				// Never applied: the term ended first. Find the new leader.
				out[i].Result, out[i].Err = c.Submit(ctx, cmds[i])
			}
		}
		return out
	}
	out := make([]Answer, len(cmds))
	var wg sync.WaitGroup
	for i := range cmds {
		wg.Go(func() { out[i].Result, out[i].Err = c.Submit(ctx, cmds[i]) })
	}
	wg.Wait()
	return out
}

// forward posts the command to the leader. ErrNotLeader means it certainly
// was not applied (refused, or never reached the leader).
func (c *Client) forward(ctx context.Context, addr string, body []byte) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+InternalPath, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("forward: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, c.token)
	res, err := c.http.Do(req)
	if err != nil {
		if isDialError(err) {
			return Result{}, ErrNotLeader
		}
		return Result{}, ErrUnavailable
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return Result{}, ErrUnavailable
	}
	switch res.StatusCode {
	case http.StatusOK:
		var out Result
		if err := json.Unmarshal(raw, &out); err != nil {
			return Result{}, fmt.Errorf("forward: decode result: %w", err)
		}
		return out, nil
	case http.StatusConflict:
		return Result{}, ErrNotLeader
	}
	if res.StatusCode >= 500 {
		// The leader failed while handling it (a batch that did not
		// commit, a leader going away): the outcome is unknown to us.
		return Result{}, ErrUnavailable
	}
	return Result{}, fmt.Errorf("forward to %s: status %d: %s", addr, res.StatusCode, bytes.TrimSpace(raw))
}

// isDialError means the request never reached a server, so it cannot
// have been applied.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// leaderAddress reads the advertised leader, cached for a second.
func (c *Client) leaderAddress(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" && time.Since(c.checked) < time.Second {
		return c.leader, nil
	}
	var addr string
	err := c.db.QueryRowContext(ctx, "SELECT address FROM sequencer_leader").Scan(&addr)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoLeader
	}
	if err != nil {
		return "", fmt.Errorf("read sequencer leader: %w", err)
	}
	c.leader, c.checked = addr, time.Now()
	return addr, nil
}

func (c *Client) forget() {
	c.mu.Lock()
	c.leader = ""
	c.mu.Unlock()
}

// Handler is the leader's door for commands from other replicas, on the
// internal listener. Only holders of SECRET_KEY can compute the token. A
// replica that does not lead answers 409, so the sender knows the command
// was not applied and may look for the leader again.
func (c *Client) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(TokenHeader)), []byte(c.token)) != 1 {
			http.Error(w, "internal endpoint", http.StatusUnauthorized)
			return
		}
		var cmd Command
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cmd); err != nil {
			http.Error(w, "bad command", http.StatusBadRequest)
			return
		}
		res, err := c.local.Submit(r.Context(), cmd)
		switch {
		case errors.Is(err, ErrNotLeader):
			http.Error(w, "not_leader", http.StatusConflict)
			return
		case err != nil:
			// The outcome is unknown (a batch that did not commit, a
			// request that ran out of time): the sender reports it as such.
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
}

// Ready reports whether commands can reach a leader now: this replica
// leads, or the advertised leader answers its health check.
func (c *Client) Ready(ctx context.Context) error {
	if c.local.IsLeader() {
		return nil
	}
	c.mu.Lock()
	if time.Since(c.healthAt) < 2*time.Second {
		ok := c.healthy
		c.mu.Unlock()
		if !ok {
			return errNoLeader
		}
		return nil
	}
	c.mu.Unlock()
	addr, err := c.leaderAddress(ctx)
	healthy := false
	if err == nil && addr != c.local.Advertise() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, addr+"/healthz", nil)
		if res, herr := c.http.Do(req); herr == nil {
			res.Body.Close()
			healthy = res.StatusCode == http.StatusOK
		}
	}
	c.mu.Lock()
	c.healthy, c.healthAt = healthy, time.Now()
	c.mu.Unlock()
	if !healthy {
		return errNoLeader
	}
	return nil
}
