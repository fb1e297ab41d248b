package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

// `exchange verify-proof FILE` checks a proof offline: no database, no
// environment. A sound proof passes (and matches --root when given); a
// changed one fails with the reason and exit 1; a wrong invocation is
// exit 2 with one line; --help lists the flag and says it reads no
// environment.
func TestVerifyProofOffline(t *testing.T) {
	in := sumtree.Input{TakenAt: time.Unix(1_780_000_000, 0).UTC(), Assets: []sumtree.Asset{{Symbol: "BTC", Precision: 8}, {Symbol: "USDT", Precision: 6}},
		UserIDs: []int64{1042, 1043, 1044}, Balances: []int64{125000000, 0, 0, 300000000, 50000000, 7}}
	copy(in.Key[:], "a key for this test's nonces....")
	tree, err := sumtree.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, p sumtree.Proof) string {
		raw, _ := json.MarshalIndent(p, "", "  ")
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var mine sumtree.Proof
	for i := range tree.Len() {
		if p := tree.Proof(i, "7"); p.Leaf.UserID == "1042" {
			mine = p
		}
	}
	root := tree.Root()
	good := write("good.json", mine)

	r := runBinary(t, nil, "", "verify-proof", good)
	if r.code != 0 || !strings.Contains(r.stdout, "ok    user 1042's leaf in snapshot 7") || !strings.Contains(r.stdout, "balances: 1.25 BTC, 0 USDT") ||
		!strings.Contains(r.stdout, "totals:   1.75 BTC, 300.000007 USDT") || !strings.Contains(r.stdout, hex.EncodeToString(root[:])) {
		t.Fatalf("a sound proof: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runBinary(t, nil, "", "verify-proof", "--root", hex.EncodeToString(root[:]), good); r.code != 0 || !strings.Contains(r.stdout, "the root is the published one") {
		t.Fatalf("with the published root: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	raw, _ := os.ReadFile(good)
	if r := runBinary(t, nil, string(raw), "verify-proof", "-", "--root", strings.Repeat("0", 64)); r.code != 1 || !strings.Contains(r.stdout, "FAIL  the proof leads to root") {
		t.Fatalf("another root, from stdin: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	changed := mine
	changed.Leaf.Balances = []string{"225000000", "0"}
	if r := runBinary(t, nil, "", "verify-proof", write("changed.json", changed)); r.code != 1 || !strings.Contains(r.stdout, "FAIL  proof does not verify: the path adds up to 2.75 BTC, but the snapshot's total is 1.75 BTC") {
		t.Fatalf("a changed balance: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	negative := mine
	negative.Path = append([]sumtree.ProofNode(nil), mine.Path...)
	negative.Path[0] = sumtree.ProofNode{Hash: mine.Path[0].Hash, Sums: []string{"340282366920938463463374607431768211455", "0"}}
	if r := runBinary(t, nil, "", "verify-proof", write("negative.json", negative)); r.code != 1 || !strings.Contains(r.stdout, "2^127") {
		t.Fatalf("a negative in disguise: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte(`{"version":1,"extra":true}`), 0o600)
	if r := runBinary(t, nil, "", "verify-proof", filepath.Join(dir, "junk.json")); r.code != 1 || !strings.Contains(r.stdout, "is not a proof") {
		t.Fatalf("not a proof: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runBinary(t, nil, "", "verify-proof", filepath.Join(dir, "missing.json")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Fatalf("a missing file: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for args, want := range map[string]string{
		"":                     "give the proof file",
		good + " --roots x":    "allowed: --root",
		good + " --root abc":   `--root "abc" is not 64 hexadecimal digits`,
		good + " " + good + "": "unexpected argument",
	} {
		r := runBinary(t, nil, "", append([]string{"verify-proof"}, strings.Fields(args)...)...)
		if r.code != 2 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("verify-proof %s: %d %q, want exit 2 and one line with %q", args, r.code, r.stderr, want)
		}
	}
	r = runBinary(t, nil, "", "verify-proof", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: exchange verify-proof") || !strings.Contains(r.stdout, "-root") ||
		!strings.Contains(r.stdout, "environment: none") {
		t.Fatalf("verify-proof --help: %d\n%s", r.code, r.stdout)
	}
}
