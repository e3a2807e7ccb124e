package inflate

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
)

// content makes n bytes of the kinds a layer holds: text with repeats,
// incompressible bytes (stored blocks), runs of zeros, as a tar.
func content(t testing.TB, seed uint64, n int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	words := strings.Fields("the quick brown fox jumps over a lazy dog lib usr share doc copyright license " +
		"GNU General Public License version 2 or later elf x86_64 glibc libc.so.6 python3 site-packages")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; buf.Len() < n; i++ {
		var b []byte
		switch rng.IntN(4) {
		case 0, 1:
			var s strings.Builder
			for s.Len() < 1+rng.IntN(400<<10) {
				s.WriteString(words[rng.IntN(len(words))])
				s.WriteByte(" \n"[rng.IntN(2)])
			}
			b = []byte(s.String())
		case 2:
			b = make([]byte, rng.IntN(600<<10))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		case 3:
			b = make([]byte, rng.IntN(300<<10))
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	return buf.Bytes()
}

type compressor struct {
	name string
	fn   func(testing.TB, []byte) []byte
}

func compressors() []compressor {
	std := func(level int) func(testing.TB, []byte) []byte {
		return func(t testing.TB, b []byte) []byte {
			var out bytes.Buffer
			w, _ := stdgzip.NewWriterLevel(&out, level)
			w.Write(b)
			w.Close()
			return out.Bytes()
		}
	}
	kp := func(level int) func(testing.TB, []byte) []byte {
		return func(t testing.TB, b []byte) []byte {
			var out bytes.Buffer
			w, _ := kgzip.NewWriterLevel(&out, level)
			w.Name = "layer.tar" // a header with a file name
			w.Write(b)
			w.Close()
			return out.Bytes()
		}
	}
	cli := func(t testing.TB, b []byte) []byte {
		path, err := exec.LookPath("gzip")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("gzip not found")
			}
			t.Skip("gzip not found")
		}
		cmd := exec.Command(path, "-6", "-c")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return []compressor{
		{"stdlib-1", std(1)}, {"stdlib-6", std(6)}, {"stdlib-9", std(9)},
		{"klauspost-1", kp(1)}, {"klauspost-6", kp(6)}, {"klauspost-9", kp(9)},
		{"zlib-gzip-6", cli},
	}
}

func readAllChunked(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	_, err := io.CopyBuffer(&out, r, make([]byte, 7777))
	return out.Bytes(), err
}

func TestReaderMatches(t *testing.T) {
	data := content(t, 1, 3<<20)
	for _, c := range compressors() {
		t.Run(c.name, func(t *testing.T) {
			gz := c.fn(t, data)
			for _, workers := range []int{1, 3} {
				z := NewReader(bytes.NewReader(gz), Options{Workers: workers, ChunkSize: minChunkSize})
				got, err := readAllChunked(z)
				z.Close()
				if err != nil {
					t.Fatalf("workers %d: %v", workers, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("workers %d: %d bytes out, want %d, not the same", workers, len(got), len(data))
				}
			}
		})
	}
}

func TestReaderSmall(t *testing.T) {
	for _, n := range []int{0, 1, 100, 40 << 10, 300 << 10, 700 << 10} {
		data := content(t, uint64(n), n)[:n]
		for _, c := range compressors()[:4] {
			gz := c.fn(t, data)
			z := NewReader(bytes.NewReader(gz), Options{ChunkSize: minChunkSize})
			got, err := io.ReadAll(z)
			z.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes, %s: err %v, equal %v", n, c.name, err, bytes.Equal(got, data))
			}
		}
	}
}

// Whatever is wrong with the stream, the Reader returns an error and never
// wrong bytes followed by io.EOF.
func TestReaderBadStreams(t *testing.T) {
	data := content(t, 2, 3<<20)
	gz := compressors()[1].fn(t, data)
	flip := func(i int) []byte {
		b := bytes.Clone(gz)
		b[i] ^= 0x10
		return b
	}
	cases := map[string][]byte{
		"truncated":        gz[:len(gz)/2],
		"no trailer":       gz[:len(gz)-8],
		"bad crc":          flip(len(gz) - 6),
		"bad size":         flip(len(gz) - 2),
		"flipped early":    flip(len(gz) / 10),
		"flipped middle":   flip(len(gz) / 2),
		"flipped late":     flip(len(gz) - 1000),
		"two members":      append(bytes.Clone(gz), gz...),
		"trailing garbage": append(bytes.Clone(gz), "garbage"...),
		"not gzip":         []byte("hello, this is not gzip at all"),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			z := NewReader(bytes.NewReader(in), Options{ChunkSize: minChunkSize})
			defer z.Close()
			got, err := readAllChunked(z)
			if err == nil {
				t.Fatalf("no error, %d bytes out (equal to the input's content: %v)", len(got), bytes.Equal(got, data))
			}
		})
	}
}

type failingReader struct {
	r io.Reader
	n int
}

var errSource = errors.New("source failed")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errSource
	}
	n, err := f.r.Read(p[:min(len(p), f.n)])
	f.n -= n
	return n, err
}

func TestReaderSourceError(t *testing.T) {
	data := content(t, 3, 3<<20)
	gz := compressors()[1].fn(t, data)
	z := NewReader(&failingReader{r: bytes.NewReader(gz), n: len(gz) / 2}, Options{ChunkSize: minChunkSize})
	defer z.Close()
	got, err := readAllChunked(z)
	if !errors.Is(err, errSource) {
		t.Fatalf("err %v, want the source's", err)
	}
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("bytes before the error differ from the content")
	}
}

func TestReaderCloseEarly(t *testing.T) {
	data := content(t, 4, 4<<20)
	gz := compressors()[1].fn(t, data)
	before := runtime.NumGoroutine()
	for range 5 {
		z := NewReader(bytes.NewReader(gz), Options{ChunkSize: minChunkSize})
		io.CopyN(io.Discard, z, 100<<10)
		z.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

func BenchmarkReader(b *testing.B) {
	data := content(b, 5, 64<<20)
	gz := compressors()[1].fn(b, data)
	b.Run("klauspost", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			zr, _ := kgzip.NewReader(bytes.NewReader(gz))
			io.Copy(io.Discard, zr)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			z := NewReader(bytes.NewReader(gz), Options{})
			if _, err := io.Copy(io.Discard, z); err != nil {
				b.Fatal(err)
			}
			z.Close()
		}
	})
}
