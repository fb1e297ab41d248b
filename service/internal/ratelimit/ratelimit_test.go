package ratelimit

import (
	"testing"
	"time"
)

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	cases := map[string]string{
		"203.0.113.7":           "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":  "2001:db8:1:2::/64",
		"2001:db8:1:3::1":       "2001:db8:1:3::/64",
		"::ffff:203.0.113.7":    "::ffff:203.0.113.7",
		"not an address at all": "not an address at all",
	}
	for in, want := range cases {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// The bucket: a burst at once, then the rate; a refusal spends nothing
// and says when the request would pass.
func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(Rules{Orders: {ByUser: {Limit: 10, Period: time.Second, Burst: 5}}}, func() time.Time { return now })
	for i := range 5 {
		if d := l.Take(Orders, ByUser, "u", 1); !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.Take(Orders, ByUser, "u", 1)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("over the burst: %+v", d)
	}
	now = now.Add(250 * time.Millisecond) // 2.5 tokens back
	if d := l.Take(Orders, ByUser, "u", 3); d.Allowed {
		t.Fatalf("3 with 2.5 tokens: %+v", d)
	}
	if d := l.Take(Orders, ByUser, "u", 2); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("2 with 2.5 tokens: %+v", d)
	}
	if d := l.Take(Orders, ByIP, "u", 100); !d.Allowed {
		t.Fatal("a class without a rule for the scope is unlimited")
	}
	now = now.Add(time.Hour)
	l.Sweep()
	if l.Size() != 0 {
		t.Fatalf("a refilled bucket was kept: %d", l.Size())
	}
}

func TestParse(t *testing.T) {
	r, err := Parse("orders.user=100/1s:200, signup.ip=50/1h")
	if err != nil || r[Orders][ByUser] != (Rule{100, time.Second, 200}) || r[SignUp][ByIP] != (Rule{50, time.Hour, 50}) || r[Reads][ByIP] != Defaults()[Reads][ByIP] {
		t.Fatalf("%v %v", r, err)
	}
	if r, err := Parse("off"); err != nil || len(r) != 0 {
		t.Fatalf("off: %v %v", r, err)
	}
	for _, bad := range []string{"orders=1/1s", "orders.user=0/1s", "orders.user=1/0s", "orders.user=1/1s:0", "nope.user=1/1s", "orders.team=1/1s", "orders.user=1/48h"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
