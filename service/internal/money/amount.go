// Package money holds the exchange's one representation of an amount: a
// fixed-point decimal stored as an int64 count of 10^-8 units. Floats never
// appear; every operation that could overflow reports it instead of wrapping.
package money

import (
	"bytes"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Scale is the number of decimal places every Amount carries. Eight covers
// the smallest unit of every asset we list (a satoshi is 10^-8 BTC); assets
// with finer native units are listed at precision 8 or less.
const Scale = 8

// One is the Amount 1.
const One Amount = 100_000_000

// Max is the largest representable Amount (about 92 billion units). Amounts
// beyond it are rejected as out of range rather than silently truncated.
const Max Amount = math.MaxInt64

var (
	ErrSyntax    = errors.New("not a decimal number")
	ErrPrecision = errors.New("too many decimal places")
	ErrRange     = errors.New("out of range")
)

// Amount is a signed decimal with Scale fractional digits. The zero value is 0.
type Amount int64

// Parse reads a plain decimal string such as "12", "0.015" or "-3.5". It
// accepts no exponent, sign '+', spaces, or more than Scale decimals, so what
// a client sends is exactly what we store.
func Parse(s string) (Amount, error) {
	if s == "" || len(s) > 40 {
		return 0, ErrSyntax
	}
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	intPart, fracPart, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && fracPart == "") {
		return 0, ErrSyntax
	}
	if !allDigits(intPart) || !allDigits(fracPart) {
		return 0, ErrSyntax
	}
	frac := strings.TrimRight(fracPart, "0")
	if len(frac) > Scale {
		return 0, ErrPrecision
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 11 {
		return 0, ErrRange
	}
	var whole uint64
	if intPart != "" {
		whole, _ = strconv.ParseUint(intPart, 10, 64)
	}
	var fraction uint64
	if frac != "" {
		fraction, _ = strconv.ParseUint(frac+strings.Repeat("0", Scale-len(frac)), 10, 64)
	}
	hi, units := bits.Mul64(whole, uint64(One))
	units, carry := bits.Add64(units, fraction, 0)
	if hi != 0 || carry != 0 || units > math.MaxInt64 {
		return 0, ErrRange
	}
	if neg {
		return -Amount(units), nil
	}
	return Amount(units), nil
}

// MustParse is Parse for constants in code and tests; it panics on bad input.
func MustParse(s string) Amount {
	a, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("money.MustParse(%q): %v", s, err))
	}
	return a
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String gives the shortest exact decimal form: "12", "0.015", "-3.5".
func (a Amount) String() string {
	var b [32]byte
	return string(a.appendString(b[:0]))
}

// appendString appends the amount with no trailing fractional zeros.
func (a Amount) appendString(dst []byte) []byte {
	start := len(dst)
	dst = a.AppendFixed(dst, Scale)
	if bytes.IndexByte(dst[start:], '.') >= 0 {
		dst = bytes.TrimRight(dst, "0")
		dst = bytes.TrimSuffix(dst, []byte("."))
	}
	return dst
}

// Fixed formats with exactly decimals fractional digits (0..Scale),
// truncating toward zero. Callers pass an asset's precision, which an amount
// of that asset never exceeds, so nothing is lost in practice.
func (a Amount) Fixed(decimals int) string {
	var b [32]byte
	return string(a.AppendFixed(b[:0], decimals))
}

// AppendFixed appends what Fixed returns. Amounts are formatted on every
// answer and event, so this allocates nothing of its own.
func (a Amount) AppendFixed(dst []byte, decimals int) []byte {
	decimals = min(max(decimals, 0), Scale)
	u := uint64(a)
	if a < 0 {
		dst = append(dst, '-')
		u = uint64(-(a + 1)) + 1 // avoids overflow at math.MinInt64
	}
	whole, frac := u/uint64(One), u%uint64(One)
	dst = strconv.AppendUint(dst, whole, 10)
	if decimals == 0 {
		return dst
	}
	var digits [Scale]byte
	for i := Scale - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	dst = append(dst, '.')
	return append(dst, digits[:decimals]...)
}

// Decimals reports how many fractional digits the amount needs.
func (a Amount) Decimals() int {
	if a < 0 {
		a = -a
	}
	d := Scale
	for r := int64(a) % int64(One); d > 0 && r%10 == 0; r /= 10 {
		d--
	}
	return d
}

// FitsPrecision reports whether the amount has at most decimals fractional digits.
func (a Amount) FitsPrecision(decimals int) bool { return a.Decimals() <= decimals }

// IsMultipleOf reports whether a is a whole number of steps (tick or lot).
func (a Amount) IsMultipleOf(step Amount) bool { return step > 0 && a%step == 0 }

// Add returns a+b or ErrRange.
func (a Amount) Add(b Amount) (Amount, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, ErrRange
	}
	return s, nil
}

// Sub returns a-b or ErrRange.
func (a Amount) Sub(b Amount) (Amount, error) {
	if b == math.MinInt64 {
		return 0, ErrRange
	}
	return a.Add(-b)
}

// MulDivFloor returns a*b/d rounded toward zero, for non-negative operands,
// with a 128-bit intermediate so the product never overflows silently.
// It is what price*quantity (d = One) and fee-in-basis-points (d = 10000) use.
func MulDivFloor(a, b, d Amount) (Amount, error) {
	q, _, err := mulDiv(a, b, d)
	return q, err
}

// MulDivCeil is MulDivFloor rounded up; holds use it so a reservation always
// covers what the order can spend.
func MulDivCeil(a, b, d Amount) (Amount, error) {
	q, r, err := mulDiv(a, b, d)
	if err != nil {
		return 0, err
	}
	if r != 0 {
		return q.Add(1)
	}
	return q, nil
}

func mulDiv(a, b, d Amount) (Amount, uint64, error) {
	if a < 0 || b < 0 || d <= 0 {
		return 0, 0, ErrRange
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(d) {
		return 0, 0, ErrRange
	}
	q, r := bits.Div64(hi, lo, uint64(d))
	if q > math.MaxInt64 {
		return 0, 0, ErrRange
	}
	return Amount(q), r, nil
}

// FloorTo truncates a non-negative amount to a multiple of step.
func (a Amount) FloorTo(step Amount) Amount {
	if step <= 0 {
		return a
	}
	return a - a%step
}

// StepOf returns the smallest positive Amount with the given number of
// decimals: StepOf(2) is 0.01. It is the unit of an asset of that precision.
func StepOf(decimals int) Amount {
	s := One
	for i := 0; i < decimals && i < Scale; i++ {
		s /= 10
	}
	return s
}

// Float64 approximates the amount for metrics and charts only; money is
// never computed with it.
func (a Amount) Float64() float64 { return float64(a) / float64(One) }

// MarshalJSON writes the amount as a JSON string, as the API contract demands.
func (a Amount) MarshalJSON() ([]byte, error) {
	return a.AppendJSON(make([]byte, 0, 24)), nil
}

// AppendJSON appends what MarshalJSON returns.
func (a Amount) AppendJSON(dst []byte) []byte {
	dst = append(dst, '"')
	dst = a.appendString(dst)
	return append(dst, '"')
}

// UnmarshalJSON accepts only a JSON string: a JSON number may already have
// lost precision in the client's float parser.
func (a *Amount) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("amount must be a decimal string: %w", ErrSyntax)
	}
	v, err := Parse(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Value stores the amount as an exact NUMERIC literal.
func (a Amount) Value() (driver.Value, error) { return a.String(), nil }

// Scan reads a NUMERIC column. Floats are refused: a float column would mean
// the schema is wrong, and converting would hide it.
func (a *Amount) Scan(src any) error {
	switch v := src.(type) {
	case string:
		return a.scanText(v)
	case []byte:
		return a.scanText(string(v))
	case int64:
		p, err := Amount(v).mulOne()
		if err != nil {
			return err
		}
		*a = p
		return nil
	case nil:
		*a = 0
		return nil
	default:
		return fmt.Errorf("money: cannot scan %T into Amount", src)
	}
}

func (a *Amount) scanText(s string) error {
	v, err := Parse(s)
	if err != nil {
		return fmt.Errorf("money: scan %q: %w", s, err)
	}
	*a = v
	return nil
}

func (a Amount) mulOne() (Amount, error) {
	if a > Max/One || a < -Max/One {
		return 0, ErrRange
	}
	return a * One, nil
}
