package sumtree

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/bits"
	"strings"
)

// U128 is an unsigned 128-bit integer: a balance or a sum of balances in
// an asset's smallest unit. The format encodes it as 16 big-endian bytes
// and allows only values below 2^127, so the top bit is always clear: a
// negative number slipped in as its two's complement has that bit set and
// is refused wherever it appears.
type U128 struct{ Hi, Lo uint64 }

// ErrRange is a value at or above 2^127, or a sum that reaches it.
var ErrRange = errors.New("sumtree: a sum is 2^127 or more")

// Valid reports whether u is below 2^127.
func (u U128) Valid() bool { return u.Hi>>63 == 0 }

// IsZero reports whether u is 0.
func (u U128) IsZero() bool { return u.Hi == 0 && u.Lo == 0 }

// add is u+v, refused at 2^127 and beyond.
func (u U128) add(v U128) (U128, error) {
	lo, carry := bits.Add64(u.Lo, v.Lo, 0)
	hi, over := bits.Add64(u.Hi, v.Hi, carry)
	out := U128{hi, lo}
	if over != 0 || !out.Valid() {
		return U128{}, ErrRange
	}
	return out, nil
}

// put writes the 16-byte big-endian encoding into dst.
func (u U128) put(dst []byte) {
	binary.BigEndian.PutUint64(dst[:8], u.Hi)
	binary.BigEndian.PutUint64(dst[8:16], u.Lo)
}

// Big is u as a big integer.
func (u U128) Big() *big.Int {
	b := new(big.Int).SetUint64(u.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(u.Lo))
}

// String is the decimal integer, as the proof's JSON carries it.
func (u U128) String() string { return u.Big().String() }

// Decimal is u read in units of 10^-precision: "1.25" for 125000000 at
// precision 8. Trailing fractional zeros are dropped, as the API's amounts
// drop them.
func (u U128) Decimal(precision int) string {
	s := u.String()
	if precision <= 0 {
		return s
	}
	if len(s) <= precision {
		s = strings.Repeat("0", precision-len(s)+1) + s
	}
	whole, frac := s[:len(s)-precision], strings.TrimRight(s[len(s)-precision:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

var errSyntax = errors.New("not a decimal integer without sign or leading zeros")

// ParseU128 reads a decimal integer as the proof's JSON writes it: digits
// only, no sign, no leading zero (except "0" itself), below 2^127.
func ParseU128(s string) (U128, error) {
	if s == "" || len(s) > 40 || (len(s) > 1 && s[0] == '0') {
		return U128{}, errSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return U128{}, errSyntax
		}
	}
	b, _ := new(big.Int).SetString(s, 10)
	if b.BitLen() > 127 {
		return U128{}, ErrRange
	}
	lo := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0)))
	return U128{Hi: new(big.Int).Rsh(b, 64).Uint64(), Lo: lo.Uint64()}, nil
}
