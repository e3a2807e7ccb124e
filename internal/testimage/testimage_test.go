package testimage_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testenv"
	"github.com/gantry-dev/gantry/internal/testimage"
)

func TestBusybox(t *testing.T) {
	testenv.Tool(t, "busybox")
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oci.ParseManifest(img.ManifestDesc, img.Manifest); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(img.Layers[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	names := map[string]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = h.Typeflag
	}
	if names["bin/busybox"] != tar.TypeReg || names["bin/sh"] != tar.TypeSymlink {
		t.Fatalf("layer entries: %v", names)
	}
	again, _ := testimage.Busybox()
	if again.ManifestDesc.Digest != img.ManifestDesc.Digest {
		t.Fatal("building twice gives different digests")
	}
	s := memory.New()
	r, _ := s.Repository(t.Context(), "demo/busybox")
	if err := img.Push(t.Context(), r, "1"); err != nil {
		t.Fatal(err)
	}
	if err := img.Push(t.Context(), r, "2"); err != nil {
		t.Fatalf("second push of the same image: %v", err)
	}
}

func TestFleetSharesBases(t *testing.T) {
	imgs, err := testimage.Fleet(6, 2, 1000, 100, 7)
	if err != nil {
		t.Fatal(err)
	}
	bases := map[string]int{}
	for _, img := range imgs {
		if len(img.Layers) != 2 {
			t.Fatalf("%d layers", len(img.Layers))
		}
		bases[img.Layers[0].Desc.Digest.String()]++
	}
	if len(bases) != 2 {
		t.Fatalf("%d distinct bases, want 2", len(bases))
	}
	again, _ := testimage.Fleet(6, 2, 1000, 100, 7)
	if again[5].ManifestDesc.Digest != imgs[5].ManifestDesc.Digest {
		t.Fatal("same seed, different fleet")
	}
}
