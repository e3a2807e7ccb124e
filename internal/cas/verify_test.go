package cas_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func descOf(b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func TestVerifyReader(t *testing.T) {
	content := []byte(strings.Repeat("gantry", 1000))
	good := descOf(content)
	altered := append([]byte(nil), content...)
	altered[100] ^= 1
	tests := []struct {
		name    string
		r       io.Reader
		desc    ocispec.Descriptor
		wantErr error
	}{
		{"exact", bytes.NewReader(content), good, nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(content)), good, nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(content)), good, nil},
		{"empty", bytes.NewReader(nil), descOf(nil), nil},
		{"sha512", bytes.NewReader(content), ocispec.Descriptor{Digest: digest.SHA512.FromBytes(content), Size: good.Size}, nil},
		{"altered", bytes.NewReader(altered), good, cas.ErrDigestMismatch},
		{"short", bytes.NewReader(content[:10]), good, cas.ErrSizeMismatch},
		{"long", bytes.NewReader(append(append([]byte(nil), content...), 'x')), good, cas.ErrSizeMismatch},
		{"bad digest", bytes.NewReader(content), ocispec.Descriptor{Digest: "sha256:123", Size: good.Size}, cas.ErrInvalid},
		{"unsupported algorithm", bytes.NewReader(content), ocispec.Descriptor{Digest: digest.SHA384.FromBytes(content), Size: good.Size}, cas.ErrUnsupported},
		{"negative size", bytes.NewReader(content), ocispec.Descriptor{Digest: good.Digest, Size: -1}, cas.ErrInvalid},
		{"min int64 size", bytes.NewReader(content), ocispec.Descriptor{Digest: good.Digest, Size: math.MinInt64}, cas.ErrInvalid},
		// Size-n+1 overflowed here and sliced the buffer with a negative bound.
		{"max int64 size", bytes.NewReader(content), ocispec.Descriptor{Digest: good.Digest, Size: math.MaxInt64}, cas.ErrSizeMismatch},
		{"max int64 size, one byte at a time", iotest.OneByteReader(bytes.NewReader(content)), ocispec.Descriptor{Digest: good.Digest, Size: math.MaxInt64}, cas.ErrSizeMismatch},
		{"max int size", bytes.NewReader(content), ocispec.Descriptor{Digest: good.Digest, Size: math.MaxInt64 - 1}, cas.ErrSizeMismatch},
		{"one byte short of the content", bytes.NewReader(content), ocispec.Descriptor{Digest: good.Digest, Size: good.Size - 1}, cas.ErrSizeMismatch},
		{"zero size, content given", bytes.NewReader(content), ocispec.Descriptor{Digest: good.Digest, Size: 0}, cas.ErrSizeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := cas.VerifyReader(tc.r, tc.desc)
			got, err := io.ReadAll(v)
			if tc.wantErr == nil {
				if err != nil || !v.Verified() || !bytes.Equal(got, content[:len(got)]) || int64(len(got)) != tc.desc.Size {
					t.Fatalf("read %d bytes, err %v, verified %v", len(got), err, v.Verified())
				}
				if err := v.Verify(); err != nil {
					t.Fatalf("Verify after a full read: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if v.Verified() {
				t.Fatal("Verified() after a failure")
			}
			if int64(len(got)) > tc.desc.Size && tc.desc.Size >= 0 {
				t.Fatalf("passed on %d bytes, more than the expected %d", len(got), tc.desc.Size)
			}
		})
	}
}

func TestVerifyPartialRead(t *testing.T) {
	content := []byte("hello, world")
	v := cas.VerifyReader(bytes.NewReader(content), descOf(content))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(v, buf); err != nil {
		t.Fatal(err)
	}
	if v.Verified() {
		t.Fatal("Verified() after a partial read")
	}
	if err := v.Verify(); err != nil || !v.Verified() || v.Count() != int64(len(content)) {
		t.Fatalf("Verify drains and checks: err %v, count %d", err, v.Count())
	}
}

func TestFetchAll(t *testing.T) {
	s := memory.New()
	r, err := s.Repository(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"hello":"world"}`)
	d := descOf(content)
	if err := r.Push(t.Context(), d, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	got, err := cas.FetchAll(t.Context(), r, d, 1<<20)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("FetchAll = %q, %v", got, err)
	}
	if _, err := cas.FetchAll(t.Context(), r, d, 4); !errors.Is(err, cas.ErrInvalid) {
		t.Fatalf("FetchAll over the limit: %v, want ErrInvalid", err)
	}
	lying := d
	lying.Size++
	if _, err := cas.FetchAll(t.Context(), r, lying, 0); !errors.Is(err, cas.ErrSizeMismatch) {
		t.Fatalf("FetchAll with a wrong size: %v, want ErrSizeMismatch", err)
	}
	// A descriptor may claim any size: FetchAll must not reserve it.
	for _, size := range []int64{math.MaxInt64, math.MaxInt64 - 1, 1 << 40} {
		huge := d
		huge.Size = size
		if _, err := cas.FetchAll(t.Context(), r, huge, 0); !errors.Is(err, cas.ErrSizeMismatch) {
			t.Fatalf("FetchAll with size %d: %v, want ErrSizeMismatch", size, err)
		}
	}
	absent := descOf([]byte("nope"))
	if _, err := cas.FetchAll(t.Context(), r, absent, 0); !errors.Is(err, cas.ErrNotFound) {
		t.Fatalf("FetchAll of absent content: %v, want ErrNotFound", err)
	}
}

func TestReadAll(t *testing.T) {
	content := []byte("some content")
	d := descOf(content)
	for _, tc := range []struct {
		name string
		r    io.Reader
		size int64
		want error
	}{
		{"exact", bytes.NewReader(content), d.Size, nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(content)), d.Size, nil},
		{"short", bytes.NewReader(content[:3]), d.Size, cas.ErrSizeMismatch},
		{"long", bytes.NewReader(append(append([]byte(nil), content...), '!')), d.Size, cas.ErrSizeMismatch},
		{"size max int64", bytes.NewReader(content), math.MaxInt64, cas.ErrSizeMismatch},
		{"negative size", bytes.NewReader(content), -5, cas.ErrInvalid},
		{"failing reader", iotest.ErrReader(io.ErrClosedPipe), d.Size, io.ErrClosedPipe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desc := d
			desc.Size = tc.size
			got, err := cas.ReadAll(tc.r, desc)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadAll: %v, want %v", err, tc.want)
			}
			if tc.want == nil && !bytes.Equal(got, content) {
				t.Fatalf("ReadAll = %q, want %q", got, content)
			}
		})
	}
}

func BenchmarkVerifyReader(b *testing.B) {
	content := bytes.Repeat([]byte{7}, 8<<20)
	d := descOf(content)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		if err := cas.VerifyReader(bytes.NewReader(content), d).Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifyReaderReuse(t *testing.T) {
	content := []byte("layer bytes")
	d := descOf(content)
	outer := cas.VerifyReader(bytes.NewReader(content), d)
	if again := cas.VerifyReader(outer, d); again != outer {
		t.Fatal("a fresh verifier of the same descriptor was wrapped again")
	}
	other := descOf([]byte("other"))
	if wrapped := cas.VerifyReader(outer, other); wrapped == outer {
		t.Fatal("a verifier of another descriptor was reused")
	}
	// Once reading has begun, a new check must start from its own count.
	partial := cas.VerifyReader(bytes.NewReader(content), d)
	if _, err := partial.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	if cas.VerifyReader(partial, d) == partial {
		t.Fatal("a verifier already read from was reused")
	}
	// A store that wraps the engine's verifier still sees a mismatch.
	bad := cas.VerifyReader(bytes.NewReader([]byte("layer bytez")), d)
	if _, err := io.ReadAll(cas.VerifyReader(bad, d)); !errors.Is(err, cas.ErrDigestMismatch) {
		t.Fatalf("reused verifier: %v, want ErrDigestMismatch", err)
	}
}
