package inflate

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/flate"
)

// The prelude is an empty block of every length modulo 8, for this
// package's decoder and for klauspost's.
func TestPrelude(t *testing.T) {
	for r := range uint64(8) {
		b, n := prelude(r)
		if n%8 != r {
			t.Fatalf("r %d: %d bits", r, n)
		}
		b, n = appendBits(b, n, terminator, terminatorBits)
		d := new(decoder)
		d.reset(b, 0, 1<<20)
		if err := d.block(); err != nil || d.final || len(d.out) != 0 || d.br.pos != n-terminatorBits {
			t.Fatalf("r %d: decoder: err %v, final %v, %d out, pos %d of %d", r, err, d.final, len(d.out), d.br.pos, n-terminatorBits)
		}
		out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
		if err != nil || len(out) != 0 {
			t.Fatalf("r %d: klauspost: err %v, %d out", r, err, len(out))
		}
	}
}
