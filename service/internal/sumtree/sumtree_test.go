package sumtree_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/crypto-exchange/exchange/service/internal/sumtree"
)

var symbolPool = []string{"ADA", "BTC", "DOT", "ETH", "SOL", "USDC", "USDT", "X1"}

// randomInput is a tree's worth of random accounts: some hold nothing of
// an asset, some hold amounts near the top of what an int64 holds.
func randomInput(rng *mrand.Rand, n int) sumtree.Input {
	a := 1 + rng.IntN(4)
	picked := slices.Clone(symbolPool)
	rng.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	picked = picked[:a]
	slices.Sort(picked)
	in := sumtree.Input{TakenAt: time.Unix(1_780_000_000+rng.Int64N(1e6), 0).UTC()}
	for _, s := range picked {
		in.Assets = append(in.Assets, sumtree.Asset{Symbol: s, Precision: rng.IntN(9)})
	}
	rand.Read(in.Key[:])
	seen := map[int64]bool{}
	for len(in.UserIDs) < n {
		u := 1 + rng.Int64N(1<<40)
		if !seen[u] {
			seen[u] = true
			in.UserIDs = append(in.UserIDs, u)
		}
	}
	for range n * a {
		switch rng.IntN(4) {
		case 0:
			in.Balances = append(in.Balances, 0)
		case 1:
			in.Balances = append(in.Balances, 1<<62+rng.Int64N(1<<61))
		default:
			in.Balances = append(in.Balances, rng.Int64N(1e12))
		}
	}
	return in
}

func proofJSON(t *testing.T, tr *sumtree.Tree, i int) []byte {
	t.Helper()
	raw, err := json.Marshal(tr.Proof(i, "1"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func goVerify(raw []byte) error {
	var p sumtree.Proof
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	_, err := sumtree.Verify(p)
	return err
}

// The verifier written from the document alone accepts every leaf of
// random trees, reaching the builder's root; it rebuilds the same root
// from the leaves with its own code (so order, padding and the root's
// encoding follow the text); the package's own verifier agrees.
func TestDocumentVerifierAcceptsEveryLeaf(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257}
	for range 20 {
		sizes = append(sizes, 1+rng.IntN(300))
	}
	leaves := 0
	for _, n := range sizes {
		in := randomInput(rng, n)
		tr, err := sumtree.Build(in)
		if err != nil {
			t.Fatal(err)
		}
		root := tr.Root()
		var specLeaves []specNode
		for i := range n {
			raw := proofJSON(t, tr, i)
			got, err := specVerify(raw)
			if err != nil {
				t.Fatalf("n=%d leaf %d: the document's verifier refuses: %v\n%s", n, i, err, raw)
			}
			if hex.EncodeToString(got) != hex.EncodeToString(root[:]) {
				t.Fatalf("n=%d leaf %d: root %x, builder %x", n, i, got, root)
			}
			if err := goVerify(raw); err != nil {
				t.Fatalf("n=%d leaf %d: Verify: %v", n, i, err)
			}
			var p specProof
			json.Unmarshal(raw, &p)
			nonce, _ := hex.DecodeString(p.Leaf.Nonce)
			user, _ := strconv.ParseUint(p.Leaf.UserID, 10, 64)
			bal, _ := specAmounts(p.Leaf.Balances, len(in.Assets))
			specLeaves = append(specLeaves, specLeaf(nonce, user, bal))
			leaves++
		}
		symbols, precisions := specColumns(in)
		rng.Shuffle(len(specLeaves), func(i, j int) { specLeaves[i], specLeaves[j] = specLeaves[j], specLeaves[i] })
		if _, whole := specBuild(in.TakenAt, symbols, precisions, specLeaves, true, false); hex.EncodeToString(whole) != hex.EncodeToString(root[:]) {
			t.Fatalf("n=%d: the document's whole tree has root %x, the builder %x", n, whole, root)
		}
	}
	t.Logf("%d trees, %d leaves verified", len(sizes), leaves)
}

func specColumns(in sumtree.Input) ([]string, []int) {
	var symbols []string
	var precisions []int
	for _, a := range in.Assets {
		symbols, precisions = append(symbols, a.Symbol), append(precisions, a.Precision)
	}
	return symbols, precisions
}

// mutation changes one thing in a proof.
type mutation struct {
	name string
	f    func(p *specProof)
}

func bump(s string) string {
	v, _ := new(big.Int).SetString(s, 10)
	return v.Add(v, big.NewInt(1)).String()
}

func flip(h string) string {
	b, _ := hex.DecodeString(h)
	b[len(b)/2] ^= 0x10
	return hex.EncodeToString(b)
}

// mutations lists every field of p that a verifier must notice changing.
func mutations(p specProof) []mutation {
	out := []mutation{
		{"root", func(p *specProof) { p.Snapshot.RootHash = flip(p.Snapshot.RootHash) }},
		{"nonce", func(p *specProof) { p.Leaf.Nonce = flip(p.Leaf.Nonce) }},
		{"user id", func(p *specProof) { p.Leaf.UserID = bump(p.Leaf.UserID) }},
		{"time", func(p *specProof) {
			t, _ := time.Parse(time.RFC3339, p.Snapshot.TakenAt)
			p.Snapshot.TakenAt = t.Add(time.Second).Format(time.RFC3339)
		}},
		{"accounts", func(p *specProof) { p.Snapshot.Accounts++ }},
		{"asset precision", func(p *specProof) { p.Assets[0].Precision = (p.Assets[0].Precision + 1) % 9 }},
		{"asset symbol", func(p *specProof) { p.Assets[len(p.Assets)-1].Symbol += "Z" }},
	}
	if p.Snapshot.Accounts > 1 {
		out = append(out, mutation{"index", func(p *specProof) { p.Leaf.Index ^= 1 }})
		if p.Leaf.Index^1 >= p.Snapshot.Accounts {
			out = out[:len(out)-1]
		}
	}
	for c := range p.Assets {
		out = append(out,
			mutation{fmt.Sprintf("balance %d up", c), func(p *specProof) { p.Leaf.Balances[c] = bump(p.Leaf.Balances[c]) }},
			mutation{fmt.Sprintf("total %d", c), func(p *specProof) { p.Assets[c].Total = bump(p.Assets[c].Total) }})
		if p.Leaf.Balances[c] != "0" {
			out = append(out, mutation{fmt.Sprintf("balance %d to zero", c), func(p *specProof) { p.Leaf.Balances[c] = "0" }})
		}
	}
	for l := range p.Path {
		out = append(out, mutation{fmt.Sprintf("sibling %d hash", l), func(p *specProof) { p.Path[l].Hash = flip(p.Path[l].Hash) }})
		for c := range p.Assets {
			out = append(out, mutation{fmt.Sprintf("sibling %d sum %d", l, c), func(p *specProof) { p.Path[l].Sums[c] = bump(p.Path[l].Sums[c]) }})
			if p.Path[l].Sums[c] != "0" {
				out = append(out, mutation{fmt.Sprintf("sibling %d sum %d to zero", l, c), func(p *specProof) { p.Path[l].Sums[c] = "0" }})
			}
		}
		out = append(out, mutation{fmt.Sprintf("sibling %d dropped", l), func(p *specProof) { p.Path = slices.Delete(p.Path, l, l+1) }})
	}
	return out
}

// Changing any leaf field, sum, nonce, sibling, total or the root makes
// both verifiers refuse.
func TestAnyChangeFailsVerification(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	checked := 0
	for _, n := range []int{1, 2, 3, 6, 13, 40} {
		in := randomInput(rng, n)
		tr, err := sumtree.Build(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			raw := proofJSON(t, tr, i)
			var orig specProof
			json.Unmarshal(raw, &orig)
			for _, m := range mutations(orig) {
				var p specProof
				json.Unmarshal(raw, &p)
				m.f(&p)
				changed, _ := json.Marshal(p)
				if _, err := specVerify(changed); err == nil {
					t.Errorf("n=%d leaf %d, %s changed: the document's verifier accepts", n, i, m.name)
				}
				if err := goVerify(changed); err == nil {
					t.Errorf("n=%d leaf %d, %s changed: Verify accepts", n, i, m.name)
				}
				checked++
			}
		}
	}
	t.Logf("%d changed proofs refused by both verifiers", checked)
}

// A negative balance cannot be hidden. The builder refuses one; the
// format has no way to write one (every amount is below 2^127, so a
// two's complement negative is refused on sight); and in a tree forged
// with wrapping arithmetic, so that a fake negative leaf offsets real
// liabilities, every account whose liabilities it offsets (those under
// its sibling, which it is added to first) fails verification.
func TestNegativeBalanceCannotBeHidden(t *testing.T) {
	in := sumtree.Input{TakenAt: time.Unix(1_780_000_000, 0), Assets: []sumtree.Asset{{Symbol: "BTC", Precision: 8}},
		UserIDs: []int64{1, 2}, Balances: []int64{500, -300}}
	if _, err := sumtree.Build(in); !errors.Is(err, sumtree.ErrNegative) {
		t.Fatalf("a negative balance was built into a tree: %v", err)
	}
	if _, err := sumtree.LeafNode(sumtree.Hash{}, 1, []int64{-1}); !errors.Is(err, sumtree.ErrNegative) {
		t.Fatalf("a negative leaf: %v", err)
	}

	rng := mrand.New(mrand.NewPCG(5, 6))
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	takenAt := time.Unix(1_780_000_000, 0).UTC()
	symbols, precisions := []string{"BTC"}, []int{8}
	for trial := range 200 {
		n := 2 + rng.IntN(30)
		var leaves []specNode
		trueTotal := new(big.Int)
		for u := range n {
			b := big.NewInt(1 + rng.Int64N(1000))
			trueTotal.Add(trueTotal, b)
			nonce := make([]byte, 32)
			rand.Read(nonce)
			leaves = append(leaves, specLeaf(nonce, uint64(100+u), []*big.Int{b}))
		}
		// The fake account "owes" minus x, written as 2^128 - x, at a
		// place of the forger's choosing.
		x := big.NewInt(1 + rng.Int64N(500))
		nonce := make([]byte, 32)
		rand.Read(nonce)
		fake := specLeaf(nonce, 1, []*big.Int{new(big.Int).Sub(two128, x)})
		at := rng.IntN(n + 1)
		leaves = slices.Insert(leaves, at, fake)
		levels, root := specBuild(takenAt, symbols, precisions, leaves, false, true)
		total := levels[len(levels)-1][0].sums[0]
		if total.Cmp(trueTotal) >= 0 {
			continue // the offset wrapped past zero: nothing hidden
		}
		// The accounts the fake leaf is added to first: its sibling's
		// subtree at the lowest level where that subtree holds any.
		var offset []int
		for l := 0; l < len(levels)-1 && len(offset) == 0; l++ {
			sib := (at >> l) ^ 1
			for i := sib << l; i < (sib+1)<<l && i < len(leaves); i++ {
				offset = append(offset, i)
			}
		}
		for _, i := range offset {
			raw := specProofOf(levels, i, int64(len(leaves)), takenAt, symbols, precisions, root)
			if _, err := specVerify(raw); err == nil {
				t.Fatalf("trial %d: leaf %d, offset by a fake %s, verifies under the document's verifier", trial, i, x)
			}
			if err := goVerify(raw); err == nil {
				t.Fatalf("trial %d: leaf %d, offset by a fake %s, verifies under Verify", trial, i, x)
			}
		}
		// The fake leaf's own proof is refused on sight.
		raw := specProofOf(levels, at, int64(len(leaves)), takenAt, symbols, precisions, root)
		if err := goVerify(raw); err == nil {
			t.Fatalf("trial %d: the fake leaf's own proof verifies", trial)
		}
	}
}

func TestAmountsInText(t *testing.T) {
	for s, want := range map[string]string{"0": "0", "125000000": "1.25", "1": "0.00000001", "100000000": "1", "170141183460469231731687303715884105727": "1701411834604692317316873037158.84105727"} {
		u, err := sumtree.ParseU128(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := u.Decimal(8); got != want {
			t.Errorf("%s at precision 8 = %s, want %s", s, got, want)
		}
		if u.String() != s {
			t.Errorf("%s prints as %s", s, u.String())
		}
	}
	for _, bad := range []string{"", "-1", "+1", "01", "1.5", "1e3", " 1", "170141183460469231731687303715884105728", "0x10"} {
		if _, err := sumtree.ParseU128(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
