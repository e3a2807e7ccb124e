package bundle

import (
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/remote"
)

// BenchmarkCreateFleet bundles testimage.Fleet(20 images, 4 bases of
// 16 MiB, 4 MiB each) from memory and reports the bundle's size against
// the unique blobs and against one OCI layout per image (the sum of each
// image's blobs).
func BenchmarkCreateFleet(b *testing.B) {
	_, images, fl := fleet(b, 20, 4, 16<<20, 4<<20)
	unique, _ := uniqueBytes(fl)
	var perImage int64
	for _, img := range fl {
		perImage += img.ManifestDesc.Size + img.ConfigDesc.Size
		for _, l := range img.Layers {
			perImage += l.Desc.Size
		}
	}
	dir := b.TempDir()
	out := filepath.Join(dir, "fleet.tar")
	b.SetBytes(unique)
	b.ReportAllocs()
	var size int64
	for b.Loop() {
		rep, err := Create(b.Context(), out, images, CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		size = rep.Size
		os.Remove(out)
	}
	b.ReportMetric(float64(size)/float64(unique), "bundle/unique")
	b.ReportMetric(float64(perImage)/float64(size), "per-image-layouts/bundle")
	b.ReportMetric(float64(size-unique), "overhead-bytes")
}

// BenchmarkVerifyFleet re-hashes the same fleet's bundle.
func BenchmarkVerifyFleet(b *testing.B) {
	_, images, fl := fleet(b, 20, 4, 16<<20, 4<<20)
	unique, _ := uniqueBytes(fl)
	out, _ := create(b, images, CreateOptions{})
	r := open(b, out)
	b.SetBytes(unique)
	for b.Loop() {
		rep, err := r.Verify(b.Context())
		if err != nil || !rep.OK() {
			b.Fatal(err, rep.Problems)
		}
	}
}

// BenchmarkCreateReferrers bundles 20 small images from gantry's registry
// over loopback HTTP, with the referrers looked for (the default: the
// referrers API plus cosign's three tags for each manifest) and without
// (NoReferrers): what looking for signatures costs a fleet that has none,
// the worst case relative to the bytes moved.
func BenchmarkCreateReferrers(b *testing.B) {
	backing, images, fl := fleet(b, 20, 4, 256<<10, 64<<10)
	unique, _ := uniqueBytes(fl)
	srv := httptest.NewServer(registry.New(backing, registry.Options{}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	reg, err := remote.New(host, remote.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var remoteImages []Image
	for _, img := range images {
		repo := strings.TrimSuffix(strings.TrimPrefix(img.Name, "registry.example.com/"), ":v1")
		r, err := reg.Repository(b.Context(), repo)
		if err != nil {
			b.Fatal(err)
		}
		remoteImages = append(remoteImages, Image{Name: host + "/" + repo + ":v1", Source: r, Reference: "v1"})
	}
	out := filepath.Join(b.TempDir(), "fleet.tar")
	for _, tc := range []struct {
		name string
		opts CreateOptions
	}{{"referrers", CreateOptions{}}, {"no-referrers", CreateOptions{NoReferrers: true}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(unique)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Create(b.Context(), out, remoteImages, tc.opts); err != nil {
					b.Fatal(err)
				}
				os.Remove(out)
			}
		})
	}
}

// BenchmarkSplitPacking bundles 40 single-layer images of 20 to 300 kB
// (seeded) in volumes of at most 1 MB, and reports the volumes written and
// how full they are on average (blob bytes over volumes times the size).
func BenchmarkSplitPacking(b *testing.B) {
	const split = 1_000_000
	r := rand.New(rand.NewPCG(5, 6))
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 20_000 + r.IntN(280_000)
	}
	images := sizedImages(b, 5, sizes...)
	out := filepath.Join(b.TempDir(), "app.tar")
	var vols int
	var bytes int64
	for b.Loop() {
		rep, err := Create(b.Context(), out, images, CreateOptions{Split: split})
		if err != nil {
			b.Fatal(err)
		}
		vols, bytes = len(rep.Files), rep.BlobBytes
	}
	b.ReportMetric(float64(vols), "volumes")
	b.ReportMetric(100*float64(bytes)/float64(int64(vols)*split), "fill%")
}
