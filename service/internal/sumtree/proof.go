package sumtree

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Version is the proof format's version, in every proof.
const Version = 1

// TimeFormat is how a proof writes the snapshot's time: UTC, whole
// seconds, the Unix seconds the root commits to.
const TimeFormat = "2006-01-02T15:04:05Z"

// Proof is one account's inclusion proof as JSON: what GET
// /api/v1/proof/mine answers, the file the web page downloads and
// `exchange verify-proof` reads. Every amount is a decimal integer string
// in the asset's smallest unit (10^-precision).
type Proof struct {
	Version  int           `json:"version"`
	Snapshot ProofSnapshot `json:"snapshot"`
	Assets   []ProofAsset  `json:"assets"`
	Leaf     ProofLeaf     `json:"leaf"`
	Path     []ProofNode   `json:"path"`
}

// ProofSnapshot names the snapshot and its published root.
type ProofSnapshot struct {
	ID       string `json:"id"`
	TakenAt  string `json:"taken_at"`
	Accounts int64  `json:"accounts"`
	RootHash string `json:"root_hash"`
}

// ProofAsset is one column: its symbol, precision, and total liabilities.
type ProofAsset struct {
	Symbol    string `json:"symbol"`
	Precision int    `json:"precision"`
	Total     string `json:"total"`
}

// ProofLeaf is the account's own leaf.
type ProofLeaf struct {
	Index    int64    `json:"index"`
	UserID   string   `json:"user_id"`
	Nonce    string   `json:"nonce"`
	Balances []string `json:"balances"`
}

// ProofNode is one sibling on the way up: its hash and sums.
type ProofNode struct {
	Hash string   `json:"hash"`
	Sums []string `json:"sums"`
}

// encodeNode writes a node as a proof carries it.
func encodeNode(n Node) ProofNode {
	out := ProofNode{Hash: hex.EncodeToString(n.Hash[:]), Sums: make([]string, len(n.Sums))}
	for i, s := range n.Sums {
		out.Sums[i] = s.String()
	}
	return out
}

// ProofOf is what one account's proof is made of, wherever the snapshot
// is held: in a Tree in memory, or in the tables a store reads back
// (package liabilities). Both go through NewProof, so the document has
// one writer and the tree's own proofs, which the tests verify, are the
// ones the store serves.
type ProofOf struct {
	SnapshotID string
	TakenAt    time.Time
	Accounts   int64
	Root       Hash
	Assets     []Asset
	// Totals are the top node's sums, one per asset.
	Totals []U128
	// Key is the snapshot's nonce key; the leaf's nonce derives from it.
	Key      Hash
	Index    int64
	UserID   int64
	Balances []int64
	// Path is the leaf's siblings, bottom first.
	Path []Node
}

// NewProof writes a proof in the format's JSON shape.
func NewProof(in ProofOf) Proof {
	nonce := DeriveNonce(in.Key, in.UserID)
	p := Proof{
		Version: Version,
		Snapshot: ProofSnapshot{ID: in.SnapshotID, TakenAt: in.TakenAt.UTC().Format(TimeFormat),
			Accounts: in.Accounts, RootHash: hex.EncodeToString(in.Root[:])},
		Leaf: ProofLeaf{Index: in.Index, UserID: strconv.FormatInt(in.UserID, 10), Nonce: hex.EncodeToString(nonce[:])},
	}
	for c, a := range in.Assets {
		p.Assets = append(p.Assets, ProofAsset{Symbol: a.Symbol, Precision: a.Precision, Total: in.Totals[c].String()})
		p.Leaf.Balances = append(p.Leaf.Balances, strconv.FormatInt(in.Balances[c], 10))
	}
	for _, n := range in.Path {
		p.Path = append(p.Path, encodeNode(n))
	}
	return p
}

// Proof is leaf i's proof; the snapshot id is the store's, which the
// tree does not know.
func (t *Tree) Proof(i int, snapshotID string) Proof {
	row := t.Row(i)
	return NewProof(ProofOf{
		SnapshotID: snapshotID, TakenAt: t.in.TakenAt, Accounts: int64(t.Len()), Root: t.root,
		Assets: t.in.Assets, Totals: t.Top().Sums, Key: t.in.Key,
		Index: int64(i), UserID: t.in.UserIDs[row], Balances: t.in.Balances[row*t.a : (row+1)*t.a],
		Path: t.Path(i),
	})
}

// Verified is what a proof proved: this user's balances are counted in
// these totals, under this root.
type Verified struct {
	UserID   int64
	Assets   []Asset
	Balances []U128
	Totals   []U128
	Accounts int64
	TakenAt  time.Time
	Root     Hash
}

// VerifyError says which check a proof failed, in words for its owner.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return "proof does not verify: " + e.Reason }

func fail(format string, args ...any) error {
	return &VerifyError{Reason: fmt.Sprintf(format, args...)}
}

// Verify recomputes the path from the leaf to the root and checks every
// rule of the format. The caller must still compare Root with the root
// the exchange publishes for that snapshot: the proof can only vouch for
// the root it names.
func Verify(p Proof) (Verified, error) {
	var v Verified
	if p.Version != Version {
		return v, fail("version %d; this verifier reads version %d", p.Version, Version)
	}
	for _, a := range p.Assets {
		v.Assets = append(v.Assets, Asset{Symbol: a.Symbol, Precision: a.Precision})
	}
	if err := checkAssets(v.Assets); err != nil {
		return v, fail("assets: %v", err)
	}
	a := len(v.Assets)
	takenAt, err := time.Parse(time.RFC3339, p.Snapshot.TakenAt)
	if err != nil {
		return v, fail("snapshot.taken_at %q is not an RFC 3339 time", p.Snapshot.TakenAt)
	}
	v.TakenAt, v.Accounts = takenAt.UTC(), p.Snapshot.Accounts
	root, err := decodeHash(p.Snapshot.RootHash)
	if err != nil {
		return v, fail("snapshot.root_hash: %v", err)
	}
	if v.Accounts < 1 || p.Leaf.Index < 0 || p.Leaf.Index >= v.Accounts {
		return v, fail("leaf index %d is not one of the snapshot's %d accounts", p.Leaf.Index, v.Accounts)
	}
	if h := Height(v.Accounts); len(p.Path) != h {
		return v, fail("the path has %d steps; a tree of %d accounts needs %d", len(p.Path), v.Accounts, h)
	}
	if v.UserID, err = strconv.ParseInt(p.Leaf.UserID, 10, 64); err != nil || v.UserID < 0 {
		return v, fail("leaf.user_id %q is not a user id", p.Leaf.UserID)
	}
	nonce, err := decodeHash(p.Leaf.Nonce)
	if err != nil {
		return v, fail("leaf.nonce: %v", err)
	}
	if v.Balances, err = decodeSums(p.Leaf.Balances, a); err != nil {
		return v, fail("leaf.balances: %v", err)
	}
	if v.Totals, err = decodeSums(totals(p.Assets), a); err != nil {
		return v, fail("assets' totals: %v", err)
	}
	node := Node{Hash: leafHashOf(AccountCommitment(nonce, v.UserID), v.Balances), Sums: v.Balances}
	for l, step := range p.Path {
		sib := Node{Sums: nil}
		if sib.Hash, err = decodeHash(step.Hash); err != nil {
			return v, fail("path[%d].hash: %v", l, err)
		}
		if sib.Sums, err = decodeSums(step.Sums, a); err != nil {
			return v, fail("path[%d].sums: %v", l, err)
		}
		left, right := node, sib
		if p.Leaf.Index>>l&1 == 1 {
			left, right = sib, node
		}
		if node, err = InnerNode(left, right); err != nil {
			return v, fail("the sums at level %d reach 2^127: a negative amount in disguise, or an overflow", l+1)
		}
	}
	for i, s := range node.Sums {
		if s != v.Totals[i] {
			a := v.Assets[i]
			return v, fail("the path adds up to %s %s, but the snapshot's total is %s %s: a balance of the leaf or a sum on the path was changed",
				s.Decimal(a.Precision), a.Symbol, v.Totals[i].Decimal(a.Precision), a.Symbol)
		}
	}
	v.Root = RootHash(v.TakenAt, v.Accounts, v.Assets, node)
	if v.Root != root {
		return v, fail("the path leads to root %x, not to the proof's root %x", v.Root, root)
	}
	return v, nil
}

func totals(assets []ProofAsset) []string {
	out := make([]string, len(assets))
	for i, a := range assets {
		out[i] = a.Total
	}
	return out
}

func decodeHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("%q is not 64 hexadecimal digits", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%q is not 64 hexadecimal digits", s)
	}
	return h, nil
}

func decodeSums(ss []string, a int) ([]U128, error) {
	if len(ss) != a {
		return nil, fmt.Errorf("%d amounts for %d assets", len(ss), a)
	}
	out := make([]U128, a)
	for i, s := range ss {
		u, err := ParseU128(s)
		if err != nil {
			return nil, fmt.Errorf("amount %d, %q: %v", i, s, err)
		}
		out[i] = u
	}
	return out, nil
}
