package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fleet pushes a testimage.Fleet into a memory store, image i as
// "team/app<i>:v1", and returns the store, the bundle images and the
// fleet.
func fleet(t testing.TB, n, bases, baseSize, appSize int) (*memory.Store, []Image, []testimage.Image) {
	t.Helper()
	imgs, err := testimage.Fleet(n, bases, baseSize, appSize, 7)
	if err != nil {
		t.Fatal(err)
	}
	s := memory.New()
	var out []Image
	for i, img := range imgs {
		name := fmt.Sprintf("team/app%d", i)
		r, err := s.Repository(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(context.Background(), r, "v1"); err != nil {
			t.Fatal(err)
		}
		out = append(out, Image{Name: "registry.example.com/" + name + ":v1", Source: r, Reference: "v1"})
	}
	return s, out, imgs
}

// uniqueBytes is the sum of the sizes of the unique blobs of imgs.
func uniqueBytes(imgs []testimage.Image) (int64, int) {
	seen := map[digest.Digest]bool{}
	var n int64
	add := func(d ocispec.Descriptor) {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			n += d.Size
		}
	}
	for _, img := range imgs {
		add(img.ManifestDesc)
		add(img.ConfigDesc)
		for _, l := range img.Layers {
			add(l.Desc)
		}
	}
	return n, len(seen)
}

func create(t testing.TB, images []Image, opts CreateOptions) (string, *CreateReport) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "app.tar")
	rep, err := Create(context.Background(), out, images, opts)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return out, rep
}

func open(t testing.TB, paths ...string) *Reader {
	t.Helper()
	r, err := Open(paths...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func verify(t testing.TB, r *Reader) *VerifyReport {
	t.Helper()
	rep, err := r.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// multiPlatform pushes an index of two image manifests (linux/amd64 and
// linux/arm64) to r as tag, and returns the index and the two manifests.
func multiPlatform(t testing.TB, r cas.Target, tag string) (ocispec.Descriptor, []testimage.Image) {
	t.Helper()
	ctx := context.Background()
	var imgs []testimage.Image
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, arch := range []string{"amd64", "arm64"} {
		l, err := testimage.RandomLayer(10000)
		if err != nil {
			t.Fatal(err)
		}
		img, err := testimage.NewImage([]testimage.Layer{l}, []string{"/" + arch})
		if err != nil {
			t.Fatal(err)
		}
		if err := img.Push(ctx, r, ""); err != nil {
			t.Fatal(err)
		}
		d := img.ManifestDesc
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		idx.Manifests = append(idx.Manifests, d)
		imgs = append(imgs, img)
	}
	b, _ := json.Marshal(idx)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}
	if err := r.Push(ctx, desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	return desc, imgs
}

// liar serves every layer with its first byte flipped.
type liar struct{ cas.ReadOnlyTarget }

func (l liar) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := l.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil || desc.MediaType != ocispec.MediaTypeImageLayerGzip {
		return rc, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b[0] ^= 1
	return io.NopCloser(bytes.NewReader(b)), nil
}
