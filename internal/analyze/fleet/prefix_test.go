package fleet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gantry-dev/gantry/internal/analyze/image"
	"github.com/gantry-dev/gantry/internal/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layered returns an image whose manifest lists layers named by letters.
func layered(name string, layers ...string) Image {
	m := &oci.Manifest{}
	for _, l := range layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{Digest: digest.FromString(l), Size: 1})
	}
	return Image{Name: name, Loaded: &image.Loaded{Manifest: m}}
}

// TestSharedPrefixes checks the trie against comparing every pair, on
// random fleets with shared bases, identical images and empty images.
func TestSharedPrefixes(t *testing.T) {
	pairwise := func(images []Image) []int {
		out := make([]int, len(images))
		for i, a := range images {
			for j, b := range images {
				if i == j {
					continue
				}
				la, lb := a.Loaded.Manifest.Layers, b.Loaded.Manifest.Layers
				k := 0
				for k < len(la) && k < len(lb) && la[k].Digest == lb[k].Digest {
					k++
				}
				out[i] = max(out[i], k)
			}
		}
		return out
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var images []Image
		for i := range r.IntN(12) {
			var layers []string
			for range r.IntN(5) {
				layers = append(layers, string(rune('a'+r.IntN(3))))
			}
			images = append(images, layered(fmt.Sprint(i), layers...))
		}
		got, want := sharedPrefixes(images), pairwise(images)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: sharedPrefixes %v, pairwise %v", round, got, want)
		}
	}
}
