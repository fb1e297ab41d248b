//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"
)

// exchangeHost is the exchange Service's cluster DNS name; the test binary
// runs in the cluster's network namespace, resolves it through the cluster
// DNS and reaches the ClusterIP through kube-proxy's rules.
const exchangeHost = "exchange." + appNS + ".svc.cluster.local"

// clusterClient is an HTTP client that resolves names through the cluster
// DNS (the kube-dns Service), not the host's resolver.
func clusterClient() *http.Client {
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(env.clusterDNS, "53"))
	}}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Resolver: resolver}
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:       jar,
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true},
	}
}

// apiTrader is one trader's web session: its cookie jar and CSRF token.
type apiTrader struct {
	t     *testing.T
	name  string
	hc    *http.Client
	csrf  string
	email string
}

func (tr *apiTrader) do(method, path string, in any, want int, out any) {
	tr.t.Helper()
	status, raw, err := tr.send(method, path, in)
	if err != nil {
		tr.t.Fatalf("%s: %s %s: %v", tr.name, method, path, err)
	}
	if status != want {
		tr.t.Fatalf("%s: %s %s: %d %s, want %d", tr.name, method, path, status, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tr.t.Fatalf("%s: %s %s: %v in %s", tr.name, method, path, err, raw)
		}
	}
}

// send is one request of the trader's session that reports instead of
// failing the test, for the rollout's load, which runs in goroutines of
// its own.
func (tr *apiTrader) send(method, path string, in any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+exchangeHost+path, body)
	if err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tr.csrf != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", tr.csrf)
	}
	res, err := tr.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// signUpTrader registers a trader and logs in through the exchange Service.
func signUpTrader(t *testing.T, name string) *apiTrader {
	t.Helper()
	tr := &apiTrader{t: t, name: name, hc: clusterClient(), email: name + "-" + randomHex(4) + "@e2e.example"}
	const password = "e2e trader password 7391"
	creds := map[string]string{"email": tr.email, "password": password}
	tr.do(http.MethodPost, "/api/v1/auth/register", creds, http.StatusCreated, nil)
	var login struct {
		CSRFToken string `json:"csrf_token"`
	}
	tr.do(http.MethodPost, "/api/v1/auth/login", creds, http.StatusOK, &login)
	if login.CSRFToken == "" {
		t.Fatalf("%s: login answered no csrf_token", name)
	}
	tr.csrf = login.CSRFToken
	return tr
}

func (tr *apiTrader) deposit(asset, amount string) {
	tr.t.Helper()
	var d struct {
		Status string `json:"status"`
		Amount string `json:"amount"`
	}
	tr.do(http.MethodPost, "/api/v1/deposits", map[string]string{"asset": asset, "amount": amount}, http.StatusCreated, &d)
	if !decEq(d.Amount, amount) {
		tr.t.Errorf("%s: deposit of %s %s recorded as %q", tr.name, amount, asset, d.Amount)
	}
}

type apiOrder struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	FilledQuantity string `json:"filled_quantity"`
	FilledQuote    string `json:"filled_quote"`
	Fee            string `json:"fee"`
	FeeAsset       string `json:"fee_asset"`
}

func (tr *apiTrader) limit(side, price, qty string) apiOrder {
	tr.t.Helper()
	var o apiOrder
	tr.do(http.MethodPost, "/api/v1/orders", map[string]any{
		"market": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": qty,
	}, http.StatusCreated, &o)
	return o
}

// balances are the trader's available and held amounts per asset.
func (tr *apiTrader) balances() map[string][2]string {
	tr.t.Helper()
	var list []struct {
		Asset     string `json:"asset"`
		Available string `json:"available"`
		Held      string `json:"held"`
	}
	tr.do(http.MethodGet, "/api/v1/balances", nil, http.StatusOK, &list)
	out := map[string][2]string{}
	for _, b := range list {
		out[b.Asset] = [2]string{b.Available, b.Held}
	}
	return out
}

// decEq compares two decimal strings by value ("499.5" equals "499.50").
func decEq(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// assertTrading is a trader's day through the exchange Service, served by
// the program's pods on the real node against the PostgreSQL pod: two
// traders sign up and log in, deposit (demo mode credits at once), a resting
// sell and a crossing buy trade in full on BTC-USDT, and both balances show
// the trade and the fees (maker 10 bps, taker 20 bps, each in the asset
// received: the seeded market's rules).
func assertTrading(t *testing.T) {
	t.Helper()
	seller := signUpTrader(t, "seller")
	buyer := signUpTrader(t, "buyer")
	seller.deposit("BTC", "1")
	buyer.deposit("USDT", "100000")
	if b := seller.balances()["BTC"]; !decEq(b[0], "1") || !decEq(b[1], "0") {
		t.Fatalf("seller's BTC after the deposit: available %s held %s, want 1 and 0", b[0], b[1])
	}

	sell := seller.limit("sell", "50000", "0.01")
	if sell.Status != "open" {
		t.Fatalf("the resting sell is %s, want open", sell.Status)
	}
	if b := seller.balances()["BTC"]; !decEq(b[0], "0.99") || !decEq(b[1], "0.01") {
		t.Errorf("seller's BTC with the sell resting: available %s held %s, want 0.99 and 0.01", b[0], b[1])
	}
	buy := buyer.limit("buy", "50000", "0.01")
	c := checker{t, "crossing buy"}
	c.eq("status", buy.Status, "filled")
	c.holds("filled_quantity 0.01 ("+buy.FilledQuantity+")", decEq(buy.FilledQuantity, "0.01"))
	c.holds("filled_quote 500 ("+buy.FilledQuote+")", decEq(buy.FilledQuote, "500"))
	c.holds("taker fee 0.00002 BTC ("+buy.Fee+" "+buy.FeeAsset+")", decEq(buy.Fee, "0.00002") && buy.FeeAsset == "BTC")

	for _, w := range []struct {
		tr                    *apiTrader
		asset, avail, wantMsg string
	}{
		{seller, "BTC", "0.99", "sold 0.01"},
		{seller, "USDT", "499.5", "500 less the 0.5 maker fee"},
		{buyer, "USDT", "99500", "paid 500"},
		{buyer, "BTC", "0.00998", "0.01 less the 0.00002 taker fee"},
	} {
		b := w.tr.balances()[w.asset]
		if !decEq(b[0], w.avail) || !decEq(b[1], "0") {
			t.Errorf("%s's %s: available %s held %s, want %s (%s) and 0 held", w.tr.name, w.asset, b[0], b[1], w.avail, w.wantMsg)
		}
	}
	fmt.Printf("e2e trading: %s sold 0.01 BTC to %s at 50000 USDT through %s\n", seller.email, buyer.email, exchangeHost)
}
