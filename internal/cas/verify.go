package cas

import (
	"context"
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 with go-digest
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ValidateDigest checks that d is a well-formed digest of an algorithm gantry
// supports (sha256, sha512) with an encoded part of the right length.
func ValidateDigest(d digest.Digest) error {
	if canonical(d) {
		return nil
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v (want sha256:<64 hex> or sha512:<128 hex>): %w", string(d), err, ErrInvalid)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return fmt.Errorf("digest %q: algorithm %q not supported (use sha256 or sha512): %w", string(d), d.Algorithm(), ErrUnsupported)
}

// canonical reports whether d is sha256:<64 lower-case hex> or
// sha512:<128 lower-case hex>, the digests gantry meets nearly always,
// without go-digest's regular expression: opening a store with 100,000
// tags validates 100,000 digests.
func canonical(d digest.Digest) bool {
	var hex string
	switch {
	case len(d) == 7+64 && d[:7] == "sha256:":
		hex = string(d[7:])
	case len(d) == 7+128 && d[:7] == "sha512:":
		hex = string(d[7:])
	default:
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidateDescriptor checks the digest and size of desc.
func ValidateDescriptor(desc ocispec.Descriptor) error {
	if err := ValidateDigest(desc.Digest); err != nil {
		return err
	}
	if desc.Size < 0 {
		return fmt.Errorf("%s: negative size %d: %w", desc.Digest, desc.Size, ErrInvalid)
	}
	return nil
}

// VerifyReader wraps r so that it yields exactly desc.Size bytes hashing to
// desc.Digest. When r is itself a fresh Verifier of the same descriptor (the
// copy engine hands one to every store's Push), VerifyReader returns r: the
// content is hashed once however many layers check it, since each of them
// sees the same verdict at io.EOF. Reading past the expected size fails with ErrSizeMismatch
// without consuming the rest of r; reaching EOF early fails with
// ErrSizeMismatch; a wrong hash fails with ErrDigestMismatch, at the read
// that would return io.EOF. A caller that stops reading early has verified
// nothing: use Verified to tell.
func VerifyReader(r io.Reader, desc ocispec.Descriptor) *Verifier {
	if inner, ok := r.(*Verifier); ok && inner.n == 0 && inner.err == nil &&
		inner.desc.Digest == desc.Digest && inner.desc.Size == desc.Size {
		return inner
	}
	v := &Verifier{r: r, desc: desc}
	if err := ValidateDescriptor(desc); err != nil {
		v.err = err
		return v
	}
	v.h = desc.Digest.Algorithm().Hash()
	return v
}

// Verifier is the reader returned by VerifyReader.
type Verifier struct {
	r    io.Reader
	desc ocispec.Descriptor
	h    hash.Hash
	n    int64
	err  error // sticky; io.EOF once verified
}

// Read implements io.Reader.
func (v *Verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	// Allow one byte more than expected so an over-long stream is caught.
	// rest+1 is computed only when rest < len(p): for a size near
	// math.MaxInt64, Size-n+1 itself would overflow to a negative bound.
	// (n <= Size here: a longer stream has set err already.)
	if rest := v.desc.Size - v.n; rest < int64(len(p)) {
		p = p[:rest+1]
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
	}
	switch {
	case v.n > v.desc.Size:
		v.err = fmt.Errorf("%s: more than the expected %d bytes: %w", v.desc.Digest, v.desc.Size, ErrSizeMismatch)
		return n - 1, v.err
	case err == io.EOF:
		v.err = v.finish()
		return n, v.err
	case err != nil:
		v.err = err
	}
	return n, err
}

func (v *Verifier) finish() error {
	if v.n != v.desc.Size {
		return fmt.Errorf("%s: got %d bytes, expected %d: %w", v.desc.Digest, v.n, v.desc.Size, ErrSizeMismatch)
	}
	if got := digest.NewDigestFromBytes(v.desc.Digest.Algorithm(), v.h.Sum(nil)); got != v.desc.Digest {
		return fmt.Errorf("%s: content hashes to %s: %w", v.desc.Digest, got, ErrDigestMismatch)
	}
	return io.EOF
}

// Verify reads the rest of the stream and reports whether it matched: nil
// means size and digest were right.
func (v *Verifier) Verify() error {
	if v.err == nil {
		_, err := io.Copy(io.Discard, v)
		if err != nil {
			return err
		}
	}
	if v.err == io.EOF {
		return nil
	}
	return v.err
}

// Verified reports whether the whole content was read and matched.
func (v *Verifier) Verified() bool { return v.err == io.EOF }

// Err returns the error the verifier has returned to its reader: the
// underlying reader's, or the mismatch it found; nil while all is well and
// once verified. A caller that handed the verifier to a store tells with it
// whether a failed write was the content's fault or the store's.
func (v *Verifier) Err() error {
	if v.err == io.EOF {
		return nil
	}
	return v.err
}

// Count returns the number of bytes read so far.
func (v *Verifier) Count() int64 { return v.n }

// FetchAll fetches and verifies content of at most limit bytes (limit <= 0:
// no limit beyond desc.Size). It is for manifests and configs, which are read
// whole.
func FetchAll(ctx context.Context, f Fetcher, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if limit > 0 && desc.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes is over the %d-byte limit: %w", desc.Digest, desc.Size, limit, ErrInvalid)
	}
	if err := ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return ReadAll(rc, desc)
}

// readAllPrealloc bounds what ReadAll reserves before any byte arrives: a
// descriptor may claim any size up to math.MaxInt64, and memory is
// committed only as the bytes come.
const readAllPrealloc = 1 << 20

// ReadAll reads r to the end and returns its bytes once they match desc in
// size and digest. Unlike make([]byte, desc.Size), it is safe for any size a
// descriptor can carry: a short stream fails with ErrSizeMismatch, an
// over-long one as soon as it passes desc.Size.
func ReadAll(r io.Reader, desc ocispec.Descriptor) ([]byte, error) {
	v := VerifyReader(r, desc)
	if v.err != nil && v.err != io.EOF {
		return nil, v.err
	}
	// One byte of room past the content for the read that sees the end,
	// so content of the size claimed is read with one allocation.
	buf := make([]byte, 0, min(desc.Size, readAllPrealloc)+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := v.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF: // the verifier's verdict: size and digest match
			return buf, nil
		case err != nil:
			return nil, err
		}
	}
}
