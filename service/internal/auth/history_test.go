package auth

import "testing"

// What a client sends as its user agent is stored as valid UTF-8 without
// control or format characters, cut at a character boundary.
func TestCleanText(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"Mozilla/5.0", 64, "Mozilla/5.0"},
		{"a\x00b\tc\nd\x7f", 64, "abcd"},
		{"bad \xff\xfe utf8", 64, "bad  utf8"},
		{"ééé", 5, "éé"},
		{"日本語", 7, "日本"},
		{"\u202etricky\u200b", 64, "tricky"},
	} {
		if got := cleanText(c.in, c.max); got != c.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
