package web

import (
	"net/url"
	"testing"
)

// Every way we know to write a link that leaves the site after logging in
// must land on the fallback; same-site paths must survive unchanged.
func TestLocalPathRefusesEveryWayOffTheSite(t *testing.T) {
	hostile := []string{
		"https://evil.example/",
		"http://evil.example",
		"//evil.example",
		"///evil.example",
		"////evil.example",
		`/\evil.example`,
		`\/evil.example`,
		`\\evil.example`,
		`/\/evil.example`,
		"/\t/evil.example",
		"/\n/evil.example",
		"/\r/evil.example",
		"\t//evil.example",
		" //evil.example",
		"/ /evil.example",
		"/\x00/evil.example",
		"/\x0b/evil.example",
		"/\x7f/evil.example",
		"/\u00a0/evil.example",
		"/\u2028/evil.example",
		"/\u200b/evil.example",
		"/%2F/evil.example",
		"/%2f%2fevil.example",
		"/%5Cevil.example",
		"/%5c%5cevil.example",
		"/%09/evil.example",
		"/./evil.example/..//evil.example",
		"/.//evil.example",
		"/..//evil.example",
		"/a/../../evil.example",
		"javascript:alert(1)",
		"JavaScript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"evil.example",
		"@evil.example",
		"http:/evil.example",
		"https:evil.example",
		"/%",
		"/%zz",
		"",
		"/" + string([]byte{0xff, 0xfe}),
		"/\u202e/moc.elpmaxe",
	}
	for _, raw := range hostile {
		if got := localPath(raw, "/fallback"); got != "/fallback" {
			t.Errorf("localPath(%q) = %q, want the fallback", raw, got)
		}
		// Whatever comes back is itself a same-site path a browser keeps.
		got := localPath(raw, "/")
		if u, err := url.Parse(got); err != nil || u.Host != "" || u.Scheme != "" || len(got) > 1 && got[1] == '/' {
			t.Errorf("localPath(%q) = %q leaves the site", raw, got)
		}
	}
	if len(hostile) < 30 {
		t.Fatalf("only %d hostile forms", len(hostile))
	}
	for _, ok := range []string{"/", "/orders", "/markets/BTC-USDT", "/orders?before=10", "/markets/BTC-USDT/", "/wallet?a=1&b=%2F", "/@trader"} {
		if got := localPath(ok, "/fallback"); got != ok {
			t.Errorf("localPath(%q) = %q, want it kept", ok, got)
		}
	}
}
