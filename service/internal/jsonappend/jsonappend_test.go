package jsonappend

import (
	"encoding/json"
	"testing"
	"time"
)

func FuzzStringAsEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "BTC-USDT", "bot-7.a:b", `a"b\c`, "<script>&", "\x00\x1f\x7f", "é€😀", "\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := String(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
	})
}

func TestTimeAsEncodingJSON(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 7, 17, 0, 0, 123456000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.FixedZone("x", 5*3600+1800)),
		time.Now(),
	} {
		want, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		if got := Time(nil, tm); string(got) != string(want) {
			t.Errorf("got %s, encoding/json %s", got, want)
		}
	}
}
