package copy_test

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/cas"
	"github.com/gantry-dev/gantry/internal/copy"
	"github.com/gantry-dev/gantry/internal/store/disk"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkCopy measures the engine's own cost, memory to memory: what it
// adds to a copy beyond the stores' I/O (hashing, goroutines, bookkeeping).
func BenchmarkCopy(b *testing.B) {
	for _, bc := range []struct {
		name         string
		layers, size int
		platforms    int
		concurrency  int
	}{
		{"image/4x4MiB", 4, 4 << 20, 1, 4},
		{"image/64x64KiB", 64, 64 << 10, 1, 4},
		{"index/3x(4x1MiB)", 4, 1 << 20, 3, 4},
		{"index/3x(4x1MiB)/concurrency=1", 4, 1 << 20, 3, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := newGraph()
			src := repo(b, "src")
			var images []ocispec.Descriptor
			var platforms []string
			for i := range bc.platforms {
				images = append(images, g.image(b, src, bc.layers, bc.size))
				platforms = append(platforms, fmt.Sprintf("linux/arch%d", i))
			}
			root := images[0]
			if bc.platforms > 1 {
				root = g.index(b, src, images, platforms)
			}
			var total int64
			for _, blob := range g.blobs {
				total += int64(len(blob))
			}
			b.SetBytes(total)
			b.ReportAllocs()
			opts := copy.Options{Concurrency: bc.concurrency}
			for b.Loop() {
				dst := repo(b, "dst")
				if err := copy.CopyGraph(b.Context(), src, dst, root, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWarmRecopy measures a copy of a fleet that is already at the
// destination, the common case of a mirror or CI job run again: what the
// engine spends to conclude there is nothing to move. The fleet is 50
// images of 2 own layers each on 3 shared base layers; each image is copied
// on its own, as a loop over a list of images does.
func BenchmarkWarmRecopy(b *testing.B) {
	const images, own, base, layerSize = 50, 2, 3, 4 << 10
	for _, bc := range []struct {
		name string
		dst  func(b *testing.B) cas.Target
	}{
		{"memory", func(b *testing.B) cas.Target { return repo(b, "dst") }},
		{"disk", func(b *testing.B) cas.Target {
			s, err := disk.Open(b.TempDir(), disk.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			r, err := s.Repository(b.Context(), "dst")
			if err != nil {
				b.Fatal(err)
			}
			return r
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := newGraph()
			src := repo(b, "src")
			var shared []ocispec.Descriptor
			for range base {
				shared = append(shared, g.blob(b, src, layerSize))
			}
			var roots []ocispec.Descriptor
			for range images {
				roots = append(roots, g.image(b, src, own, layerSize, shared...))
			}
			dst := bc.dst(b)
			copyFleet := func() {
				for _, root := range roots {
					if err := copy.CopyGraph(b.Context(), src, dst, root, copy.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			}
			copyFleet() // warm: everything is at the destination from here on
			b.ReportAllocs()
			for b.Loop() {
				copyFleet()
			}
		})
	}
}
