// Package sumtree is the proof-of-liabilities format: a Merkle sum tree
// over every customer account's balances, each leaf hiding its owner
// behind a nonce, each inner node carrying the hash of its children and
// the per-asset sums under it. docs/proof-of-liabilities.md is the
// specification a third party writes a verifier from; this package
// builds trees and paths to that text and verifies paths for `exchange
// verify-proof`. It is pure: no database, no clock, no randomness but the
// key it is handed.
package sumtree

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Hash is a SHA-256 digest.
type Hash [sha256.Size]byte

// Domain tags: the first byte of every hashed message, so that no leaf
// can be read as an inner node, a padding leaf, an account commitment or
// a root, whatever its bytes.
const (
	tagLeaf    byte = 0x00
	tagInner   byte = 0x01
	tagPadding byte = 0x02
	tagAccount byte = 0x03
	tagRoot    byte = 0x04
)

// sumSize is the encoded size of one sum: 16 bytes, big-endian.
const sumSize = 16

// Asset is one column of every leaf and every sum: assets are ordered by
// symbol, bytewise.
type Asset struct {
	Symbol    string
	Precision int
}

// checkAssets enforces what the root's encoding can hold and the order
// every leaf's columns follow.
func checkAssets(assets []Asset) error {
	if len(assets) == 0 || len(assets) > 0xffff {
		return fmt.Errorf("sumtree: %d assets; a snapshot has 1 to 65535", len(assets))
	}
	for i, a := range assets {
		if len(a.Symbol) == 0 || len(a.Symbol) > 255 || a.Precision < 0 || a.Precision > 255 {
			return fmt.Errorf("sumtree: asset %q with precision %d cannot be encoded", a.Symbol, a.Precision)
		}
		if i > 0 && assets[i-1].Symbol >= a.Symbol {
			return fmt.Errorf("sumtree: assets must be in ascending symbol order, %q before %q", assets[i-1].Symbol, a.Symbol)
		}
	}
	return nil
}

// Node is a subtree's hash and its per-asset sums.
type Node struct {
	Hash Hash
	Sums []U128
}

// AccountCommitment hides who a leaf belongs to: without the nonce, the
// user id cannot be guessed from it; with it, its owner can check the
// leaf is theirs and no one else's.
func AccountCommitment(nonce Hash, userID int64) Hash {
	var buf [1 + 32 + 8]byte
	buf[0] = tagAccount
	copy(buf[1:33], nonce[:])
	binary.BigEndian.PutUint64(buf[33:], uint64(userID))
	return sha256.Sum256(buf[:])
}

// leafHash hashes a leaf into buf's storage (1+32+16A bytes, reused).
func leafHash(buf []byte, commitment Hash, balances []int64) Hash {
	buf = buf[:1+32+sumSize*len(balances)]
	buf[0] = tagLeaf
	copy(buf[1:33], commitment[:])
	for i, b := range balances {
		U128{Lo: uint64(b)}.put(buf[33+sumSize*i:])
	}
	return sha256.Sum256(buf)
}

// leafHashOf is leafHash for sums already decoded (a verifier's side).
func leafHashOf(commitment Hash, sums []U128) Hash {
	buf := make([]byte, 1+32+sumSize*len(sums))
	buf[0] = tagLeaf
	copy(buf[1:33], commitment[:])
	for i, s := range sums {
		s.put(buf[33+sumSize*i:])
	}
	return sha256.Sum256(buf)
}

// LeafNode is the leaf of one account: its hash, and its balances as the
// leaf's sums. Balances are in each asset's smallest unit, never negative.
func LeafNode(nonce Hash, userID int64, balances []int64) (Node, error) {
	sums := make([]U128, len(balances))
	for i, b := range balances {
		if b < 0 {
			return Node{}, fmt.Errorf("%w: user %d, column %d", ErrNegative, userID, i)
		}
		sums[i] = U128{Lo: uint64(b)}
	}
	buf := make([]byte, 1+32+sumSize*len(balances))
	return Node{Hash: leafHash(buf, AccountCommitment(nonce, userID), balances), Sums: sums}, nil
}

// ErrNegative refuses a negative balance: the tree has no way to write
// one, so that none can cancel out a liability.
var ErrNegative = errors.New("sumtree: a negative balance cannot be a leaf")

// innerInto computes the parent of l and r into out (out.Sums has room
// for the sums), hashing in buf (1+2(32+16A) bytes, reused).
func innerInto(buf []byte, l, r Node, out *Node) error {
	a := len(l.Sums)
	buf = buf[:1+2*(32+sumSize*a)]
	buf[0] = tagInner
	at := 1
	for _, n := range [2]Node{l, r} {
		copy(buf[at:at+32], n.Hash[:])
		at += 32
		for _, s := range n.Sums {
			if !s.Valid() {
				return ErrRange
			}
			s.put(buf[at:])
			at += sumSize
		}
	}
	for i := range a {
		s, err := l.Sums[i].add(r.Sums[i])
		if err != nil {
			return err
		}
		out.Sums[i] = s
	}
	out.Hash = sha256.Sum256(buf)
	return nil
}

// InnerNode is the parent of l and r: it commits to both children's hashes
// and to both children's sums (not only their total, so that a sibling's
// sums cannot be shifted between its children), and carries their sum.
func InnerNode(l, r Node) (Node, error) {
	if len(l.Sums) != len(r.Sums) {
		return Node{}, fmt.Errorf("sumtree: children with %d and %d sums", len(l.Sums), len(r.Sums))
	}
	out := Node{Sums: make([]U128, len(l.Sums))}
	if err := innerInto(make([]byte, 1+2*(32+sumSize*len(l.Sums))), l, r, &out); err != nil {
		return Node{}, err
	}
	return out, nil
}

// paddingLeaf fills the leaf positions from the account count up to the
// next power of two: its hash is SHA-256 of its tag alone, its sums zero.
func paddingLeaf(assets int) Node {
	return Node{Hash: sha256.Sum256([]byte{tagPadding}), Sums: make([]U128, assets)}
}

// Padding is the root of a subtree of 2^level padding leaves: what stands
// where no account is.
func Padding(level, assets int) Node {
	n := paddingLeaf(assets)
	for range level {
		n, _ = InnerNode(n, n) // zero sums cannot overflow
	}
	return n
}

// DecodeSums reads a node's sums from the format's encoding.
func DecodeSums(b []byte, assets int) ([]U128, error) {
	if len(b) != sumSize*assets {
		return nil, fmt.Errorf("sumtree: %d bytes of sums for %d assets", len(b), assets)
	}
	out := make([]U128, assets)
	for i := range out {
		out[i] = U128{Hi: binary.BigEndian.Uint64(b[sumSize*i:]), Lo: binary.BigEndian.Uint64(b[sumSize*i+8:])}
		if !out[i].Valid() {
			return nil, ErrRange
		}
	}
	return out, nil
}

// Height is the number of levels above the leaves for n leaves: the
// smallest h with 2^h >= n (0 for one leaf or none).
func Height(n int64) int {
	h := 0
	for int64(1)<<h < n {
		h++
	}
	return h
}

// RootHash is what the exchange publishes: the top node together with the
// snapshot's time, its account count and its asset list, so that a root
// cannot be shown again as another moment's, nor its columns relabelled.
func RootHash(takenAt time.Time, accounts int64, assets []Asset, top Node) Hash {
	buf := []byte{tagRoot}
	buf = binary.BigEndian.AppendUint64(buf, uint64(takenAt.Unix()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(accounts))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(assets)))
	for _, a := range assets {
		buf = append(buf, byte(len(a.Symbol)))
		buf = append(buf, a.Symbol...)
		buf = append(buf, byte(a.Precision))
	}
	buf = append(buf, top.Hash[:]...)
	for _, s := range top.Sums {
		var b [sumSize]byte
		s.put(b[:])
		buf = append(buf, b[:]...)
	}
	return sha256.Sum256(buf)
}

// DeriveNonce is this exchange's choice of an account's nonce: HMAC-SHA256
// under the snapshot's secret random key, of the user id. Each snapshot
// has a fresh key, so nonces differ from snapshot to snapshot and cannot
// be predicted without the key, which only the database holds. A verifier
// never needs it: the nonce is just 32 bytes to it.
func DeriveNonce(key Hash, userID int64) Hash {
	m := hmac.New(sha256.New, key[:])
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], uint64(userID))
	m.Write(id[:])
	var out Hash
	m.Sum(out[:0])
	return out
}
