package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"

	"github.com/gantry-dev/gantry/internal/store/disk"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Open a store, push a manifest's content and tag it; Close writes
// index.json, after which skopeo reads oci:DIR:library/hello:v1.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "store")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := disk.Open(dir, disk.Options{})
	if err != nil {
		log.Fatal(err)
	}
	repo, err := s.Repository(ctx, "library/hello")
	if err != nil {
		log.Fatal(err)
	}
	config := []byte(`{}`)
	cdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(config), Size: int64(len(config))}
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":2},"layers":[]}`,
		ocispec.MediaTypeImageManifest, cdesc.MediaType, cdesc.Digest)
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	for _, c := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{cdesc, config}, {mdesc, manifest}} {
		if err := repo.Push(ctx, c.desc, bytes.NewReader(c.data)); err != nil {
			log.Fatal(err)
		}
	}
	if err := repo.Tag(ctx, mdesc, "v1"); err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	s, _ = disk.Open(dir, disk.Options{})
	defer s.Close()
	rep, _ := s.Fsck(ctx, disk.FsckOptions{})
	fmt.Println("blobs:", rep.BlobsChecked, "clean:", rep.Clean())
	// Output: blobs: 2 clean: true
}
