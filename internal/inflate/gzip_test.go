package inflate

import (
	"bytes"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// gzipOf compresses each part as a gzip member of its own, one after
// another.
func gzipOf(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, p := range parts {
		w := stdgzip.NewWriter(&b)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// mixed is n bytes that compress with long and short back-references and
// literals alike.
func mixed(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("usr lib share doc x86_64-linux-gnu python3 dist-packages __init__.py copyright changelog.gz")
	var b bytes.Buffer
	for b.Len() < n {
		switch r.IntN(3) {
		case 0:
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte('/')
		case 1:
			for range r.IntN(64) {
				b.WriteByte(byte(r.Uint32()))
			}
		default:
			if b.Len() > 40000 {
				off := b.Len() - 1 - r.IntN(32000)
				b.Write(bytes.Clone(b.Bytes()[off : off+r.IntN(200)]))
			}
		}
	}
	return b.Bytes()[:n]
}

// readIn reads r to its end, step bytes at a time into one reused buffer
// (so that an inflater keeping its history in the caller's buffer fails).
func readIn(r io.Reader, step int) ([]byte, error) {
	var out []byte
	buf := make([]byte, step)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		clear(buf)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func TestGzip(t *testing.T) {
	big := mixed(3<<20, 1)
	tests := []struct {
		name  string
		parts [][]byte
	}{
		{"empty", [][]byte{{}}},
		{"one byte", [][]byte{{'x'}}},
		{"3 MiB", [][]byte{big}},
		{"members", [][]byte{mixed(100000, 2), {}, mixed(70000, 3)}},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 7, 512, 64 << 10, 1 << 20} {
			if step < 512 && len(bytes.Join(tt.parts, nil)) > 200000 {
				continue
			}
			z, err := NewGzip(bytes.NewReader(gzipOf(t, tt.parts...)))
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			got, err := readIn(z, step)
			z.Close()
			if err != nil {
				t.Fatalf("%s, reads of %d: %v", tt.name, step, err)
			}
			if want := bytes.Join(tt.parts, nil); !bytes.Equal(got, want) {
				t.Fatalf("%s, reads of %d: %d bytes differ from the %d written", tt.name, step, len(got), len(want))
			}
		}
	}
}

func TestGzipBadInput(t *testing.T) {
	good := gzipOf(t, mixed(200000, 4))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x55
		return b
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"crc", flip(len(good) - 6)},
		{"size", flip(len(good) - 2)},
		{"truncated", good[:len(good)-100]},
		{"trailer cut", good[:len(good)-4]},
		{"body", flip(len(good) / 2)},
		{"garbage after", append(bytes.Clone(good), "not gzip"...)},
		{"not gzip", []byte("this is plain text, not a gzip stream")},
		{"short", good[:5]},
		{"nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := NewGzip(bytes.NewReader(tt.in))
			if err == nil {
				_, err = readIn(z, 32<<10)
				z.Close()
			}
			if err == nil {
				t.Fatalf("%s (%s) read without an error", tt.name, Library)
			}
			if !strings.HasPrefix(err.Error(), "gzip: ") && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %q does not say it is gzip's", err)
			}
		})
	}
}

func TestGzipSourceError(t *testing.T) {
	boom := errors.New("disk gone")
	good := gzipOf(t, mixed(500000, 5))
	r := io.MultiReader(bytes.NewReader(good[:len(good)/2]), iotestErr{boom})
	z, err := NewGzip(r)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if _, err := io.Copy(io.Discard, z); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the source's error", err)
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// FuzzGzip: NewGzip reads what compress/gzip reads, byte for byte, and
// fails where it fails.
func FuzzGzip(f *testing.F) {
	f.Add(gzipOf(f, []byte("hello, gzip")))
	f.Add(gzipOf(f, mixed(5000, 6), []byte("second member")))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var want []byte
		sr, werr := stdgzip.NewReader(bytes.NewReader(in))
		if werr == nil {
			want, werr = io.ReadAll(io.LimitReader(sr, 1<<16))
		}
		z, err := NewGzip(bytes.NewReader(in))
		var got []byte
		if err == nil {
			got, err = readIn(io.LimitReader(z, 1<<16), 4096)
			z.Close()
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("NewGzip: %v, compress/gzip: %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("NewGzip read %d bytes, compress/gzip %d, not the same", len(got), len(want))
		}
	})
}

// BenchmarkGzip reads a gzip stream the way a tar walk does (512-byte
// headers, then file contents in 32 KiB reads) and in large reads; and,
// as check does, with the compressed bytes hashed as they are read (SHA-NI
// code right after ISA-L's AVX code on the same thread).
func BenchmarkGzip(b *testing.B) {
	data := mixed(16<<20, 7)
	gz := gzipOf(b, data)
	for _, step := range []int{512, 32 << 10, 1 << 20, -(32 << 10)} {
		name := fmt.Sprintf("reads of %d", step)
		if step < 0 {
			step = -step
			name = fmt.Sprintf("reads of %d, input hashed", step)
		}
		hashed := strings.Contains(name, "hashed")
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			buf := make([]byte, step)
			for b.Loop() {
				var src io.Reader = bytes.NewReader(gz)
				if hashed {
					src = io.TeeReader(src, sha256.New())
				}
				z, err := NewGzip(src)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := z.Read(buf); err != nil {
						break
					}
				}
				z.Close()
			}
		})
	}
}
