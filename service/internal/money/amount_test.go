package money

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Amount
		err  error
	}{
		{"0", 0, nil},
		{"1", One, nil},
		{"0.015", 1_500_000, nil},
		{"-3.5", -350_000_000, nil},
		{"12.10000000000", 1_210_000_000, nil}, // trailing zeros are not precision
		{"0.00000001", 1, nil},
		{"92233720368.54775807", Max, nil},
		{"92233720368.54775808", 0, ErrRange},
		{"999999999999", 0, ErrRange},
		{"0.000000001", 0, ErrPrecision},
		{"", 0, ErrSyntax},
		{"-", 0, ErrSyntax},
		{".5", 0, ErrSyntax},
		{"5.", 0, ErrSyntax},
		{"+5", 0, ErrSyntax},
		{"1e3", 0, ErrSyntax},
		{" 1", 0, ErrSyntax},
		{"1,5", 0, ErrSyntax},
		{"NaN", 0, ErrSyntax},
		{"--1", 0, ErrSyntax},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if !errors.Is(err, c.err) {
			t.Errorf("Parse(%q) error = %v, want %v", c.in, err, c.err)
			continue
		}
		if err == nil && got != c.want {
			t.Errorf("Parse(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestStringAndFixed(t *testing.T) {
	cases := []struct {
		a     Amount
		str   string
		fixed string // with 2 decimals
	}{
		{0, "0", "0.00"},
		{One, "1", "1.00"},
		{1_500_000, "0.015", "0.01"},
		{-350_000_000, "-3.5", "-3.50"},
		{1, "0.00000001", "0.00"},
		{Max, "92233720368.54775807", "92233720368.54"},
		{math.MinInt64, "-92233720368.54775808", "-92233720368.54"},
	}
	for _, c := range cases {
		if got := c.a.String(); got != c.str {
			t.Errorf("String(%d) = %q, want %q", c.a, got, c.str)
		}
		if got := c.a.Fixed(2); got != c.fixed {
			t.Errorf("Fixed(%d, 2) = %q, want %q", c.a, got, c.fixed)
		}
	}
}

func TestArithmeticOverflow(t *testing.T) {
	if _, err := Max.Add(1); !errors.Is(err, ErrRange) {
		t.Fatalf("Max+1: want ErrRange, got %v", err)
	}
	if _, err := Amount(math.MinInt64).Sub(1); !errors.Is(err, ErrRange) {
		t.Fatalf("Min-1: want ErrRange, got %v", err)
	}
	if s, err := MustParse("1.5").Sub(MustParse("2")); err != nil || s != MustParse("-0.5") {
		t.Fatalf("1.5-2 = %v, %v", s, err)
	}
	if _, err := MulDivFloor(Max, 2*One, One); !errors.Is(err, ErrRange) {
		t.Fatalf("Max*2: want ErrRange, got %v", err)
	}
	// 30000.01 * 0.0001 = 3.000001 exactly.
	if got, _ := MulDivFloor(MustParse("30000.01"), MustParse("0.0001"), One); got != MustParse("3.000001") {
		t.Fatalf("notional = %v", got)
	}
	// fee of 10 bps on 0.00000019 is 0.00000000019: floors to 0, ceils to 0.00000001.
	if got, _ := MulDivFloor(19, 10, 10_000); got != 0 {
		t.Fatalf("floor fee = %v", got)
	}
	if got, _ := MulDivCeil(19, 10, 10_000); got != 1 {
		t.Fatalf("ceil fee = %v", got)
	}
}

func TestPrecisionHelpers(t *testing.T) {
	if d := MustParse("1.230").Decimals(); d != 2 {
		t.Fatalf("Decimals = %d", d)
	}
	if MustParse("0.001").FitsPrecision(2) {
		t.Fatal("0.001 must not fit precision 2")
	}
	if !MustParse("30000.01").IsMultipleOf(MustParse("0.01")) || MustParse("30000.015").IsMultipleOf(MustParse("0.01")) {
		t.Fatal("IsMultipleOf wrong")
	}
	if StepOf(2) != MustParse("0.01") || StepOf(0) != One {
		t.Fatal("StepOf wrong")
	}
}

func TestJSON(t *testing.T) {
	var v struct{ A Amount }
	if err := json.Unmarshal([]byte(`{"A":"0.1"}`), &v); err != nil || v.A != MustParse("0.1") {
		t.Fatalf("unmarshal string: %v %v", v.A, err)
	}
	if err := json.Unmarshal([]byte(`{"A":0.1}`), &v); err == nil {
		t.Fatal("a JSON number must be refused")
	}
	b, _ := json.Marshal(struct{ A Amount }{MustParse("2.50")})
	if string(b) != `{"A":"2.5"}` {
		t.Fatalf("marshal = %s", b)
	}
}

func TestScan(t *testing.T) {
	var a Amount
	for src, want := range map[any]Amount{"1.50000000": MustParse("1.5"), int64(3): 3 * One} {
		if err := a.Scan(src); err != nil || a != want {
			t.Errorf("Scan(%v) = %v, %v", src, a, err)
		}
	}
	if err := a.Scan(1.5); err == nil {
		t.Error("Scan(float64) must fail")
	}
}

func FuzzParseRoundTrip(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-0.00000001", "92233720368.54775807", "007.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil || a != b {
			t.Fatalf("round trip %q -> %q -> %v (%v)", s, a.String(), b, err)
		}
	})
}
