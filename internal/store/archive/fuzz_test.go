package archive

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
)

// FuzzOpen checks that Open never panics on any file and that every blob
// an opened archive lists can be fetched (the bytes are verified by whoever
// copies them, not here). Its seed is testdata/skopeo-small.tar, a
// one-image tarball skopeo wrote, plus testdata/fuzz/FuzzOpen.
func FuzzOpen(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "skopeo-small.tar"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "a.tar")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err != nil {
			return
		}
		defer s.Close()
		ctx := context.Background()
		for _, img := range s.Images() {
			r := s.Target(img)
			for _, d := range append(img.Layers, img.Config, img.Manifest) {
				if cas.ValidateDescriptor(d) != nil {
					t.Fatalf("listed a bad descriptor %+v", d)
				}
				rc, err := r.Fetch(ctx, d)
				if err != nil {
					t.Fatalf("listed %s but cannot fetch it: %v", d.Digest, err)
				}
				n, _ := io.Copy(io.Discard, rc)
				rc.Close()
				if n != d.Size {
					t.Fatalf("%s: %d bytes, listed as %d", d.Digest, n, d.Size)
				}
			}
		}
		if bytes.Equal(data, seed) && len(s.Images()) != 1 {
			t.Fatalf("the seed has %d images", len(s.Images()))
		}
	})
}
