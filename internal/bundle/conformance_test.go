package bundle_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/cas/castest"
	"github.com/gantry-dev/gantry/internal/store/memory"
)

// TestConformance runs the read-only part of the store suite against a
// bundle opened in place.
func TestConformance(t *testing.T) {
	castest.RunReadOnly(t, castest.ReadOnlyConfig{New: newBundle})
}

// newBundle pushes images into a memory store, bundles them and opens the
// bundle.
func newBundle(t *testing.T, images []castest.Image) cas.ReadOnlyStore {
	t.Helper()
	ctx := t.Context()
	src, err := memory.New().Repository(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	var imgs []bundle.Image
	for _, img := range images {
		for _, c := range append(append([]castest.Content{}, img.Layers...), img.Config, img.Manifest) {
			if ok, _ := src.Exists(ctx, c.Desc); ok {
				continue
			}
			if err := src.Push(ctx, c.Desc, bytes.NewReader(c.Data)); err != nil {
				t.Fatal(err)
			}
		}
		imgs = append(imgs, bundle.Image{Name: img.Repository + ":" + img.Tag, Source: src, Reference: img.Manifest.Desc.Digest.String()})
	}
	out := filepath.Join(t.TempDir(), "fixture.tar")
	if _, err := bundle.Create(ctx, out, imgs, bundle.CreateOptions{}); err != nil {
		t.Fatalf("bundle.Create: %v", err)
	}
	r, err := bundle.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
