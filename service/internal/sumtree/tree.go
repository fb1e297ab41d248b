package sumtree

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Input is what a tree is built from: one row per account.
type Input struct {
	TakenAt time.Time
	Assets  []Asset
	// Key is the snapshot's secret random key; each row's nonce is
	// DeriveNonce(Key, its user id).
	Key     Hash
	UserIDs []int64
	// Balances holds len(Assets) balances per row, row after row, in each
	// asset's smallest unit.
	Balances []int64
}

// Tree is a built Merkle sum tree. It keeps every node of the levels
// above the leaves that covers at least one account; the rest are
// padding, computed on demand.
type Tree struct {
	in     Input
	a      int
	height int
	// order maps a leaf's index (its place by hash) to its input row.
	order []int32
	// hashes[l] are the hashes of level l's nodes, 32 bytes each;
	// sums[l] their sums, a per node (level 0's sums are the balances).
	hashes [][]byte
	sums   [][]U128
	// pad[l] is the root of a subtree of 2^l padding leaves.
	pad  []Node
	root Hash
}

// Build hashes every leaf, orders the leaves by hash (which shuffles them:
// their place says nothing of who or when), and builds the levels above.
func Build(in Input) (*Tree, error) {
	if err := checkAssets(in.Assets); err != nil {
		return nil, err
	}
	a, n := len(in.Assets), len(in.UserIDs)
	if len(in.Balances) != n*a {
		return nil, fmt.Errorf("sumtree: %d balances for %d rows of %d assets", len(in.Balances), n, a)
	}
	if int64(n) >= 1<<31 {
		return nil, fmt.Errorf("sumtree: %d leaves is more than a tree here holds", n)
	}
	for i, b := range in.Balances {
		if b < 0 {
			return nil, fmt.Errorf("%w: user %d has %d in column %d", ErrNegative, in.UserIDs[i/a], b, i%a)
		}
	}
	t := &Tree{in: in, a: a, height: Height(int64(n))}
	t.pad = make([]Node, t.height+1)
	t.pad[0] = paddingLeaf(a)
	for l := 1; l <= t.height; l++ {
		p, err := InnerNode(t.pad[l-1], t.pad[l-1])
		if err != nil {
			return nil, err
		}
		t.pad[l] = p
	}
	if err := t.hashLeaves(); err != nil {
		return nil, err
	}
	if err := t.buildLevels(); err != nil {
		return nil, err
	}
	t.root = RootHash(in.TakenAt, int64(n), in.Assets, t.Node(t.height, 0))
	return t, nil
}

// hashLeaves hashes every row, then orders leaves by hash.
func (t *Tree) hashLeaves() error {
	n := len(t.in.UserIDs)
	byRow := make([]byte, 32*n)
	err := parallel(n, func(lo, hi int) error {
		mac := hmac.New(sha256.New, t.in.Key[:])
		buf := make([]byte, 1+32+sumSize*t.a)
		var id [8]byte
		var nonce Hash
		for r := lo; r < hi; r++ {
			user := t.in.UserIDs[r]
			binary.BigEndian.PutUint64(id[:], uint64(user))
			mac.Reset()
			mac.Write(id[:])
			mac.Sum(nonce[:0])
			h := leafHash(buf, AccountCommitment(nonce, user), t.in.Balances[r*t.a:(r+1)*t.a])
			copy(byRow[32*r:], h[:])
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.order = make([]int32, n)
	for i := range t.order {
		t.order[i] = int32(i)
	}
	slices.SortFunc(t.order, func(x, y int32) int {
		return bytes.Compare(byRow[32*x:32*x+32], byRow[32*y:32*y+32])
	})
	sorted := make([]byte, 32*n)
	for i, r := range t.order {
		copy(sorted[32*i:], byRow[32*r:32*r+32])
		if i > 0 && bytes.Equal(sorted[32*i:32*i+32], sorted[32*(i-1):32*i]) {
			return fmt.Errorf("sumtree: two leaves hash alike (users %d and %d)", t.in.UserIDs[r], t.in.UserIDs[t.order[i-1]])
		}
	}
	t.hashes = [][]byte{sorted}
	t.sums = [][]U128{nil}
	return nil
}

// buildLevels computes each level from the one below it.
func (t *Tree) buildLevels() error {
	below := len(t.in.UserIDs)
	for l := 1; l <= t.height; l++ {
		count := (below + 1) / 2
		hashes, sums := make([]byte, 32*count), make([]U128, t.a*count)
		t.hashes, t.sums = append(t.hashes, hashes), append(t.sums, sums)
		err := parallel(count, func(lo, hi int) error {
			buf := make([]byte, 1+2*(32+sumSize*t.a))
			left, right := t.blank(), t.blank()
			for i := lo; i < hi; i++ {
				t.nodeInto(l-1, 2*i, &left)
				t.nodeInto(l-1, 2*i+1, &right)
				out := Node{Sums: sums[i*t.a : (i+1)*t.a]}
				if err := innerInto(buf, left, right, &out); err != nil {
					return fmt.Errorf("sumtree: level %d node %d: %w", l, i, err)
				}
				copy(hashes[32*i:], out.Hash[:])
			}
			return nil
		})
		if err != nil {
			return err
		}
		below = count
	}
	return nil
}

func (t *Tree) blank() Node { return Node{Sums: make([]U128, t.a)} }

// nodeInto fills out (whose Sums has room) with node i of level l.
func (t *Tree) nodeInto(l, i int, out *Node) {
	if i >= len(t.hashes[l])/32 {
		out.Hash = t.pad[l].Hash
		copy(out.Sums, t.pad[l].Sums)
		return
	}
	copy(out.Hash[:], t.hashes[l][32*i:])
	if l == 0 {
		row := int(t.order[i])
		for c, b := range t.in.Balances[row*t.a : (row+1)*t.a] {
			out.Sums[c] = U128{Lo: uint64(b)}
		}
		return
	}
	copy(out.Sums, t.sums[l][i*t.a:(i+1)*t.a])
}

// Node is node i of level l (0: the leaves), padding where no account is.
func (t *Tree) Node(l, i int) Node {
	out := t.blank()
	t.nodeInto(l, i, &out)
	return out
}

// Len is the number of accounts (real leaves).
func (t *Tree) Len() int { return len(t.in.UserIDs) }

// Height is the number of levels above the leaves.
func (t *Tree) Height() int { return t.height }

// LevelLen is how many nodes of level l cover an account; those are the
// ones worth storing.
func (t *Tree) LevelLen(l int) int { return len(t.hashes[l]) / 32 }

// Row is the input row of the leaf at index i.
func (t *Tree) Row(i int) int { return int(t.order[i]) }

// Root is the published root hash.
func (t *Tree) Root() Hash { return t.root }

// Top is the tree's top node: its sums are the total liabilities.
func (t *Tree) Top() Node { return t.Node(t.height, 0) }

// Leaf is the leaf at index i: its input row, its owner and balances.
func (t *Tree) Leaf(i int) (row int, userID int64, balances []int64) {
	row = int(t.order[i])
	return row, t.in.UserIDs[row], t.in.Balances[row*t.a : (row+1)*t.a]
}

// Assets are the tree's columns.
func (t *Tree) Assets() []Asset { return t.in.Assets }

// StoredNode is node i of level l (l >= 1, i < LevelLen(l)) as a store
// keeps it: its hash, and its sums in the format's encoding, written into
// sums (16 bytes per asset). Both stay valid until the next call with
// the same sums buffer.
func (t *Tree) StoredNode(l, i int, sums []byte) (hash, encoded []byte) {
	encoded = sums[:sumSize*t.a]
	for c, s := range t.sums[l][i*t.a : (i+1)*t.a] {
		s.put(encoded[sumSize*c:])
	}
	return t.hashes[l][32*i : 32*i+32], encoded
}

// Path is the sibling of every node from leaf i up to (not including)
// the top, bottom first.
func (t *Tree) Path(i int) []Node {
	out := make([]Node, t.height)
	for l := range t.height {
		out[l] = t.Node(l, (i>>l)^1)
	}
	return out
}

// parallel runs f over [0, n) in chunks on every core; the first error
// wins.
func parallel(n int, f func(lo, hi int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if n < 4096 || workers < 2 {
		return f(0, n)
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = f(lo, hi)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
