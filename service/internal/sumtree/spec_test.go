package sumtree_test

// specVerifier is a verifier written from docs/proof-of-liabilities.md
// alone (sections 1 to 6), sharing no code with the package it checks:
// it reads the proof as JSON text and uses only the standard library.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"time"
)

type specProof struct {
	Version  int `json:"version"`
	Snapshot struct {
		ID       string `json:"id"`
		TakenAt  string `json:"taken_at"`
		Accounts int64  `json:"accounts"`
		RootHash string `json:"root_hash"`
	} `json:"snapshot"`
	Assets []struct {
		Symbol    string `json:"symbol"`
		Precision int    `json:"precision"`
		Total     string `json:"total"`
	} `json:"assets"`
	Leaf struct {
		Index    int64    `json:"index"`
		UserID   string   `json:"user_id"`
		Nonce    string   `json:"nonce"`
		Balances []string `json:"balances"`
	} `json:"leaf"`
	Path []struct {
		Hash string   `json:"hash"`
		Sums []string `json:"sums"`
	} `json:"path"`
}

var (
	specLimit   = new(big.Int).Lsh(big.NewInt(1), 127) // every amount is below 2^127
	specDecimal = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	specHex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

type specNode struct {
	hash []byte
	sums []*big.Int
	// a leaf's owner, for writing its proof
	user  uint64
	nonce []byte
}

func specAmount(s string) (*big.Int, error) {
	if !specDecimal.MatchString(s) {
		return nil, fmt.Errorf("amount %q is not a decimal integer", s)
	}
	v, _ := new(big.Int).SetString(s, 10)
	if v.Cmp(specLimit) >= 0 {
		return nil, fmt.Errorf("amount %s is 2^127 or more", s)
	}
	return v, nil
}

func specAmounts(ss []string, a int) ([]*big.Int, error) {
	if len(ss) != a {
		return nil, fmt.Errorf("%d amounts for %d assets", len(ss), a)
	}
	out := make([]*big.Int, a)
	for i, s := range ss {
		v, err := specAmount(s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func specHash(s string) ([]byte, error) {
	if !specHex.MatchString(s) {
		return nil, fmt.Errorf("%q is not 64 lower-case hex digits", s)
	}
	return hex.DecodeString(s)
}

// u128 is section 1's 16-byte big-endian encoding.
func u128(v *big.Int) []byte {
	out := make([]byte, 16)
	return v.FillBytes(out)
}

func sha(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func encodeSums(s []*big.Int) []byte {
	var out []byte
	for _, v := range s {
		out = append(out, u128(v)...)
	}
	return out
}

// specInner is section 4's inner node.
func specInner(l, r specNode) (specNode, error) {
	out := specNode{hash: sha([]byte{0x01}, l.hash, encodeSums(l.sums), r.hash, encodeSums(r.sums))}
	for i := range l.sums {
		s := new(big.Int).Add(l.sums[i], r.sums[i])
		if s.Cmp(specLimit) >= 0 {
			return out, fmt.Errorf("a sum at 2^127 or more")
		}
		out.sums = append(out.sums, s)
	}
	return out, nil
}

// specLeaf is section 3's leaf.
func specLeaf(nonce []byte, userID uint64, balances []*big.Int) specNode {
	commitment := sha([]byte{0x03}, nonce, binary.BigEndian.AppendUint64(nil, userID))
	return specNode{hash: sha([]byte{0x00}, commitment, encodeSums(balances)), sums: balances, user: userID, nonce: nonce}
}

// specRoot is section 5's root.
func specRoot(takenAt time.Time, n int64, symbols []string, precisions []int, top specNode) []byte {
	list := binary.BigEndian.AppendUint16(nil, uint16(len(symbols)))
	for i, s := range symbols {
		list = append(list, byte(len(s)))
		list = append(list, s...)
		list = append(list, byte(precisions[i]))
	}
	return sha([]byte{0x04}, binary.BigEndian.AppendUint64(nil, uint64(takenAt.Unix())),
		binary.BigEndian.AppendUint64(nil, uint64(n)), list, top.hash, encodeSums(top.sums))
}

// specVerify follows section 6, steps 1 to 6, and returns the root it
// reached; step 7 (the published root) is the caller's.
func specVerify(raw []byte) ([]byte, error) {
	var p specProof
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("version %d", p.Version)
	}
	a := len(p.Assets)
	if a < 1 {
		return nil, fmt.Errorf("no assets")
	}
	var symbols []string
	var precisions []int
	var totals []string
	for i, as := range p.Assets {
		if i > 0 && as.Symbol <= p.Assets[i-1].Symbol {
			return nil, fmt.Errorf("assets out of order")
		}
		symbols, precisions, totals = append(symbols, as.Symbol), append(precisions, as.Precision), append(totals, as.Total)
	}
	n := p.Snapshot.Accounts
	h := 0
	for int64(1)<<h < n {
		h++
	}
	if n < 1 || p.Leaf.Index < 0 || p.Leaf.Index >= n || len(p.Path) != h {
		return nil, fmt.Errorf("index %d, %d accounts, %d steps", p.Leaf.Index, n, len(p.Path))
	}
	takenAt, err := time.Parse(time.RFC3339, p.Snapshot.TakenAt)
	if err != nil {
		return nil, err
	}
	root, err := specHash(p.Snapshot.RootHash)
	if err != nil {
		return nil, err
	}
	nonce, err := specHash(p.Leaf.Nonce)
	if err != nil {
		return nil, err
	}
	if !specDecimal.MatchString(p.Leaf.UserID) {
		return nil, fmt.Errorf("user id %q", p.Leaf.UserID)
	}
	user, ok := new(big.Int).SetString(p.Leaf.UserID, 10)
	if !ok || user.BitLen() > 63 {
		return nil, fmt.Errorf("user id %q", p.Leaf.UserID)
	}
	balances, err := specAmounts(p.Leaf.Balances, a)
	if err != nil {
		return nil, err
	}
	tot, err := specAmounts(totals, a)
	if err != nil {
		return nil, err
	}
	node := specLeaf(nonce, user.Uint64(), balances)
	for l, step := range p.Path {
		var sib specNode
		if sib.hash, err = specHash(step.Hash); err != nil {
			return nil, err
		}
		if sib.sums, err = specAmounts(step.Sums, a); err != nil {
			return nil, err
		}
		if p.Leaf.Index>>l&1 == 0 {
			node, err = specInner(node, sib)
		} else {
			node, err = specInner(sib, node)
		}
		if err != nil {
			return nil, err
		}
	}
	for i := range tot {
		if node.sums[i].Cmp(tot[i]) != 0 {
			return nil, fmt.Errorf("sums %v, totals %v", node.sums, tot)
		}
	}
	got := specRoot(takenAt, n, symbols, precisions, node)
	if !bytes.Equal(got, root) {
		return nil, fmt.Errorf("root %x, proof says %x", got, root)
	}
	return got, nil
}

// specBuild builds a whole tree from section 4 with the verifier's own
// code, from leaves in any order: for checking the builder's root, and
// for forging trees the way a cheating exchange would (wrap: sums modulo
// 2^128, so that a negative number written in two's complement offsets
// the others). It returns every level, leaves first, and the root.
func specBuild(takenAt time.Time, symbols []string, precisions []int, leaves []specNode, sorted, wrap bool) ([][]specNode, []byte) {
	a := len(symbols)
	level := append([]specNode(nil), leaves...)
	if sorted {
		for i := 1; i < len(level); i++ { // insertion sort by hash: small trees
			for j := i; j > 0 && bytes.Compare(level[j].hash, level[j-1].hash) < 0; j-- {
				level[j], level[j-1] = level[j-1], level[j]
			}
		}
	}
	n := int64(len(level))
	h := 0
	for int64(1)<<h < n {
		h++
	}
	for int64(len(level)) < int64(1)<<h || len(level) == 0 {
		pad := specNode{hash: sha([]byte{0x02})}
		for range a {
			pad.sums = append(pad.sums, new(big.Int))
		}
		level = append(level, pad)
	}
	levels := [][]specNode{level}
	mod := new(big.Int).Lsh(big.NewInt(1), 128)
	for len(level) > 1 {
		next := make([]specNode, len(level)/2)
		for i := range next {
			l, r := level[2*i], level[2*i+1]
			next[i] = specNode{hash: sha([]byte{0x01}, l.hash, encodeSums(l.sums), r.hash, encodeSums(r.sums))}
			for c := range a {
				s := new(big.Int).Add(l.sums[c], r.sums[c])
				if wrap {
					s.Mod(s, mod)
				}
				next[i].sums = append(next[i].sums, s)
			}
		}
		level = next
		levels = append(levels, level)
	}
	return levels, specRoot(takenAt, n, symbols, precisions, level[0])
}

// specProofOf writes leaf i's proof from levels built by specBuild; the
// leaf carries its user id and nonce.
func specProofOf(levels [][]specNode, i int, n int64, takenAt time.Time, symbols []string, precisions []int, root []byte) []byte {
	var p specProof
	p.Version = 1
	p.Snapshot.ID, p.Snapshot.TakenAt, p.Snapshot.Accounts, p.Snapshot.RootHash = "1", takenAt.UTC().Format(time.RFC3339), n, hex.EncodeToString(root)
	top := levels[len(levels)-1][0]
	for c, s := range symbols {
		p.Assets = append(p.Assets, struct {
			Symbol    string `json:"symbol"`
			Precision int    `json:"precision"`
			Total     string `json:"total"`
		}{s, precisions[c], top.sums[c].String()})
	}
	leaf := levels[0][i]
	p.Leaf.Index, p.Leaf.UserID, p.Leaf.Nonce = int64(i), fmt.Sprint(leaf.user), hex.EncodeToString(leaf.nonce)
	for _, b := range leaf.sums {
		p.Leaf.Balances = append(p.Leaf.Balances, b.String())
	}
	for l := 0; l < len(levels)-1; l++ {
		sib := levels[l][(i>>l)^1]
		step := struct {
			Hash string   `json:"hash"`
			Sums []string `json:"sums"`
		}{Hash: hex.EncodeToString(sib.hash)}
		for _, s := range sib.sums {
			step.Sums = append(step.Sums, s.String())
		}
		p.Path = append(p.Path, step)
	}
	raw, _ := json.Marshal(p)
	return raw
}
