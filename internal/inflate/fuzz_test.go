package inflate

import (
	"bytes"
	"io"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// FuzzReader feeds arbitrary bytes to the Reader as a gzip stream: it must
// not panic or hang, and whatever it returns without error must be what an
// ordinary gzip reader returns. The block finder and the marker decoder run
// on the same bytes from every bit offset of their first bytes.
func FuzzReader(f *testing.F) {
	for _, c := range compressors()[:6] {
		f.Add(c.fn(f, content(f, 9, 3000)))
	}
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		z := NewReader(bytes.NewReader(in), Options{Workers: 1, ChunkSize: minChunkSize})
		got, err := io.ReadAll(z)
		z.Close()
		if err == nil {
			zr, err := kgzip.NewReader(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("parallel read %d bytes, gzip refuses the stream: %v", len(got), err)
			}
			zr.Multistream(false)
			want, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("parallel read %d bytes, gzip %d (err %v)", len(got), len(want), err)
			}
		}
		d := new(decoder)
		findBlock(d, in, 0, min(4096, uint64(len(in))*8))
		for pos := uint64(0); pos < min(16, uint64(len(in))*8); pos++ {
			d.reset(in, pos, 64<<10)
			for range 2 {
				if d.block() != nil || d.final {
					break
				}
			}
		}
	})
}
