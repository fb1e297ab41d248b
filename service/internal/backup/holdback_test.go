package backup

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// holdBack must forward every byte exactly once, in order, and keep exactly
// the last size bytes until flush, whatever the write sizes.
func TestHoldBack(t *testing.T) {
	for _, size := range []int{1, 7, 4096} {
		for _, total := range []int{0, 3, size, size + 1, 100_000} {
			in := make([]byte, total)
			for i := range in {
				in[i] = byte(rand.IntN(256))
			}
			var out bytes.Buffer
			h := &holdBack{w: &out, size: size}
			for rest := in; len(rest) > 0; {
				n := min(len(rest), rand.IntN(2*size+3))
				if _, err := h.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if want := max(total-size, 0); !bytes.Equal(out.Bytes(), in[:want]) {
				t.Fatalf("size %d, total %d: forwarded %d bytes, want the first %d", size, total, out.Len(), want)
			}
			if err := h.flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("size %d, total %d: after flush the output differs from the input", size, total)
			}
		}
	}
}
