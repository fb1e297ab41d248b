package strictjson

import (
	"testing"

	"github.com/crypto-exchange/exchange/service/internal/apierr"
)

type order struct {
	Market   string  `json:"market"`
	Amount   *string `json:"amount"`
	PostOnly bool    `json:"post_only"`
	Scopes   []string
	Inner    struct {
		Name string `json:"name"`
	} `json:"inner"`
}

func TestDecodeRefusesWhatIsNotStrictJSON(t *testing.T) {
	cases := []struct {
		name, body string
		code       apierr.Code // "" accepted
	}{
		{"plain", `{"market":"BTC-USDT","amount":"1.5","post_only":true}`, ""},
		{"tab and newline in a value", "{\"market\":\"a\\tb\\nc\"}", ""},
		{"nested", `{"inner":{"name":"x"},"Scopes":["read"]}`, ""},
		{"null pointer", `{"amount":null}`, ""},
		{"empty", ``, apierr.InvalidJSON},
		{"spaces only", "  \n", apierr.InvalidJSON},
		{"truncated", `{"market":`, apierr.InvalidJSON},
		{"not an object", `["BTC"]`, apierr.InvalidJSON},
		{"a string", `"x"`, apierr.InvalidJSON},
		{"trailing object", `{} {}`, apierr.InvalidJSON},
		{"trailing garbage", `{}x`, apierr.InvalidJSON},
		{"duplicate name", `{"market":"a","market":"b"}`, apierr.InvalidJSON},
		{"case-variant duplicate", `{"market":"a","Market":"b"}`, apierr.InvalidJSON},
		{"case-variant alone", `{"MARKET":"a"}`, apierr.UnknownField},
		{"unicode-escaped duplicate", `{"market":"a","m\u0061rket":"b"}`, apierr.InvalidJSON},
		{"nested duplicate", `{"inner":{"name":"a","NAME":"b"}}`, apierr.InvalidJSON},
		{"unknown", `{"leverage":10}`, apierr.UnknownField},
		{"escaped NUL", `{"market":"BTC\u0000"}`, apierr.InvalidInput},
		{"escaped NUL in a name", `{"mar\u0000ket":"x"}`, apierr.InvalidInput},
		{"escaped bell", `{"market":"\u0007"}`, apierr.InvalidInput},
		{"escaped DEL", `{"market":"\u007f"}`, apierr.InvalidInput},
		{"tab in a name", "{\"mar\\tket\":\"x\"}", apierr.InvalidInput},
		{"raw NUL byte", "{\"market\":\"a\x00\"}", apierr.InvalidJSON},
		{"invalid UTF-8", "{\"market\":\"\xff\xfe\"}", apierr.InvalidInput},
		{"overlong UTF-8", "{\"market\":\"\xc0\xaf\"}", apierr.InvalidInput},
		{"lone surrogate escape", `{"market":"\ud800"}`, apierr.InvalidJSON},
		{"number for a string", `{"amount":1.5}`, apierr.InvalidAmount},
		{"string for a bool", `{"post_only":"yes"}`, apierr.InvalidRequest},
		{"deep", `{"inner":` + deep(40) + `}`, apierr.InvalidJSON},
	}
	for _, c := range cases {
		var o order
		err := Decode([]byte(c.body), &o)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		e, ok := apierr.As(err)
		if !ok || e.Code != c.code || e.Message == "" {
			t.Errorf("%s: got %v, want %s", c.name, err, c.code)
		}
	}
}

func deep(n int) string {
	s := "1"
	for range n {
		s = "[" + s + "]"
	}
	return s
}

func FuzzDecodeNeverPanics(f *testing.F) {
	f.Add([]byte(`{"market":"x","amount":"1"}`))
	f.Add([]byte(`{"inner":{"name":"\u0000"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var o order
		if err := Decode(data, &o); err != nil {
			if _, ok := apierr.As(err); !ok {
				t.Fatalf("not a client error: %v", err)
			}
		}
	})
}

// Checked skips the checks its data already passed, never the refusal of
// nothing at all: a socket command without its order is refused as an
// empty body is.
func TestCheckedRefusesAbsentDataAsDecodeDoes(t *testing.T) {
	for _, data := range [][]byte{nil, []byte(""), []byte("  \n")} {
		var a, b order
		want, got := Decode(data, &a), Checked(data, &b)
		if want == nil || got == nil || want.Error() != got.Error() {
			t.Errorf("%q: Decode says %v, Checked %v", data, want, got)
		}
	}
}
