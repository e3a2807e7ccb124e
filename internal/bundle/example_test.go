package bundle_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/bundle"
	"github.com/gantry-dev/gantry/internal/store/memory"
	"github.com/gantry-dev/gantry/internal/testimage"
)

// Bundle two images that share a base layer, then read the bundle back:
// the base is stored once.
func Example() {
	ctx := context.Background()
	src := memory.New()
	fleet, err := testimage.Fleet(2, 1, 1<<20, 1<<10, 1)
	if err != nil {
		log.Fatal(err)
	}
	var images []bundle.Image
	for i, img := range fleet {
		repo, _ := src.Repository(ctx, fmt.Sprintf("team/app%d", i))
		if err := img.Push(ctx, repo, "1.0"); err != nil {
			log.Fatal(err)
		}
		images = append(images, bundle.Image{Name: fmt.Sprintf("registry.example.com/team/app%d:1.0", i), Source: repo, Reference: "1.0"})
	}
	dir, _ := os.MkdirTemp("", "bundle-example")
	defer os.RemoveAll(dir)

	rep, err := bundle.Create(ctx, filepath.Join(dir, "apps.tar"), images, bundle.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("blobs:", len(rep.Manifest.Blobs)) // 1 base + 2 layers + 2 configs + 2 manifests

	r, err := bundle.Open(rep.Files...)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	v, err := r.Verify(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, img := range v.Images {
		fmt.Println(img.Name, "complete:", img.Complete)
	}
	// Output:
	// blobs: 7
	// registry.example.com/team/app0:1.0 complete: true
	// registry.example.com/team/app1:1.0 complete: true
}
