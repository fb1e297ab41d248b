package httpserver

import (
	"net"
	"net/http"
	"testing"
)

// Only the hop the trusted proxy appended is believed; a client's own
// entries never are, even when they name trusted addresses.
func TestClientIPBelievesOnlyTheProxysOwnEntry(t *testing.T) {
	_, pods, _ := net.ParseCIDR("10.244.0.0/16")
	extract := clientIP([]*net.IPNet{pods})
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"an untrusted peer's header is ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"through the ingress", "10.244.1.7:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a forged entry on the left", "10.244.1.7:5000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"a forged trusted entry on the left", "10.244.1.7:5000", []string{"10.244.9.9, 198.51.100.1"}, "198.51.100.1"},
		{"a client inside the trusted range", "10.244.1.7:5000", []string{"1.2.3.4, 10.244.3.3"}, "10.244.3.3"},
		{"two headers: the last is the proxy's", "10.244.1.7:5000", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"IPv6 in brackets", "10.244.1.7:5000", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"garbage", "10.244.1.7:5000", []string{"not an address"}, "10.244.1.7"},
		{"proxy without a header", "10.244.1.7:5000", nil, "10.244.1.7"},
	}
	for _, c := range cases {
		req := &http.Request{RemoteAddr: c.peer, Header: http.Header{}}
		for _, v := range c.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := extract(req); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := clientIP(nil)(&http.Request{RemoteAddr: "127.0.0.1:1", Header: http.Header{"X-Forwarded-For": {"9.9.9.9"}}}); got != "127.0.0.1" {
		t.Errorf("without trusted proxies: %q", got)
	}
}
