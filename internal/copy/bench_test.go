package copy_test

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/copy"
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
