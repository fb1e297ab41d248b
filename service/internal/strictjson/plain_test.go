package strictjson

import (
	"strings"
	"testing"
)

// plainSeeds are bodies on both sides of plain's line, and the refusals
// TestDecodeRefusesWhatIsNotStrictJSON tries.
var plainSeeds = []string{
	`{"market":"BTC-USDT","side":"buy","type":"limit","price":"30000.01","quantity":"0.005"}`,
	`{"orders":[{"market":"BTC-USDT","side":"sell","type":"market","quantity":"0.001"}]}`,
	`{"op":"place","id":"17","order":{"market":"BTC-USDT","post_only":true,"x":null,"n":-0.5e+3}}`,
	` [1, 2.5, -0, 1E9, true, false, null, "", {}, []] `,
	`{"a":1,"A":2}`, `{"a":1,"a":2}`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`,
	`{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":"x\"}`, `{"a":"\u0041"}`, "{\"a\":\"\x7f\"}", "{\"a\":\"\t\"}",
	"{\"a\":\"\xc3\xa9\"}", `{} {}`, `{}x`, `"x"`, ``, ` `, `{`, `}`, `[`, `{"a":[}`, `{"a":{]}`,
	`{"a":` + deep(15) + `}`, `{"a":` + deep(16) + `}`, `{"a":` + deep(40) + `}`,
}

// plain must never accept what the full check refuses: it only skips the
// full check for bodies that would pass it.
func FuzzPlainAcceptsOnlyWhatCheckAccepts(f *testing.F) {
	for _, s := range plainSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if plain(data) {
			if err := check(data); err != nil {
				t.Fatalf("plain accepts %q, the full check refuses it: %v", data, err)
			}
		}
	})
}

// The bodies bots send take the fast reading; the others do not.
func TestPlainTakesWhatBotsSend(t *testing.T) {
	for _, s := range plainSeeds[:4] {
		if !plain([]byte(s)) {
			t.Errorf("plain declines %s", s)
		}
	}
	many := make([]string, maxPlainMembers+1)
	for i := range many {
		many[i] = `"m` + strings.Repeat("x", i) + `":1`
	}
	for _, s := range []string{`{"a":1,"A":2}`, `{"a":"\u0041"}`, "{\"a\":\"\xc3\xa9\"}", `{"a":1} x`,
		`{"a":` + deep(16) + `}`, "{" + strings.Join(many, ",") + "}"} {
		if plain([]byte(s)) {
			t.Errorf("plain takes %.60s", s)
		}
	}
}

func BenchmarkCheckOrder(b *testing.B) {
	body := []byte(plainSeeds[0])
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			if err := Check(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			if err := check(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
